#ifndef MODL_VERSION_H
#define MODL_VERSION_H
#ifndef MODL_VERSION
#define MODL_VERSION "0.1.0"
#endif
#endif
