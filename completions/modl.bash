# bash completion for modl(1).
# Install as $(pkg-config --variable=completionsdir bash-completion)/modl, or source it.
# Needs no other completion helpers.

_modl()
{
	local cur prev cmd sub i j word
	local globals="--help -h --version --quiet -q --verbose -v --json"
	local commands="pull verify license cache convert quantize info ls login logout whoami env inspect help"
	local quant_types="F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K"
	local pre_names="llama-bpe smaug-bpe qwen2 tekken smollm gpt-2 default"
	local cache_commands="ls rm prune verify export import"
	local repo_types="model dataset space"

	COMPREPLY=()
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# With '=' in COMP_WORDBREAKS, "--repo-type=da" arrives as "--repo-type" "=" "da".
	if [[ $cur == "=" && $prev == --* ]]; then
		cur=
	elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	elif [[ $cur == --*=* ]]; then
		prev=${cur%%=*}
		cur=${cur#*=}
	fi

	# The command is the first word that is not an option (global options take no value).
	cmd=
	for ((i = 1; i < COMP_CWORD; i++)); do
		word=${COMP_WORDS[i]}
		case $word in
		-*) ;;
		*)
			cmd=$word
			break
			;;
		esac
	done

	# cache: the sub-command is the first word after "cache" that is not an option.
	sub=
	j=$i
	if [[ $cmd == cache ]]; then
		for ((j = i + 1; j < COMP_CWORD; j++)); do
			word=${COMP_WORDS[j]}
			case $word in
			-*) ;;
			*)
				sub=$word
				break
				;;
			esac
		done
	fi

	# Option values.
	case $prev in
	--repo-type)
		case $cmd in
		pull | verify | license | info | ls | cache)
			COMPREPLY=($(compgen -W "$repo_types" -- "$cur"))
			return 0
			;;
		esac
		;;
	--sort)
		if [[ $cmd == cache ]]; then
			COMPREPLY=($(compgen -W "size name accessed" -- "$cur"))
			return 0
		fi
		;;
	-o | --output)
		# cache: the bundle (FILE.tar, FILE.tar.gz, FILE.tar.zst, or - for standard output);
		# convert: the GGUF file, or a directory for the default name.
		if [[ $cmd == cache || $cmd == convert ]]; then
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -f -- "$cur"))
			return 0
		fi
		;;
	--type)
		if [[ $cmd == convert ]]; then
			COMPREPLY=($(compgen -W "$quant_types" -- "$cur"))
			return 0
		fi
		;;
	--pre)
		if [[ $cmd == convert ]]; then
			# The pre-tokenizers modl recognises; any type llama.cpp knows is accepted.
			COMPREPLY=($(compgen -W "$pre_names" -- "$cur"))
			return 0
		fi
		;;
	-t | --threads | --name)
		# A number or a name: nothing to offer.
		if [[ $cmd == convert || $cmd == quantize ]]; then
			return 0
		fi
		;;
	--local-dir)
		if [[ $cmd == pull ]]; then
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -d -- "$cur"))
			return 0
		fi
		;;
	--include | --exclude | --jobs | --connections)
		# A glob or a number: nothing to offer.
		if [[ $cmd == pull ]]; then
			return 0
		fi
		;;
	--policy)
		if [[ $cmd == license || $cmd == pull ]]; then
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -f -- "$cur"))
			return 0
		fi
		;;
	--token)
		if [[ $cmd == login ]]; then
			# A secret: nothing to offer but "-" (read it from standard input).
			COMPREPLY=($(compgen -W "-" -- "$cur"))
			return 0
		fi
		;;
	esac

	if [[ $cur == -* ]]; then
		local opts=$globals
		case $cmd in
		pull) opts+=" --include --exclude --repo-type --local-dir --jobs --connections --dry-run --force --policy" ;;
		verify | info | ls) opts+=" --repo-type" ;;
		license) opts+=" --policy --remote --repo-type" ;;
		login) opts+=" --token" ;;
		inspect) opts+=" --tensors" ;;
		convert) opts+=" -o --output --type --threads -t --name --pre" ;;
		quantize) opts+=" --threads -t --allow-requantize" ;;
		cache)
			case $sub in
			ls) opts+=" --revisions --sort" ;;
			rm) opts+=" --dry-run -n --yes -y --repo-type" ;;
			prune) opts+=" --dry-run -n --yes -y" ;;
			verify) opts+=" --repo-type" ;;
			export) opts+=" -o --output --repo-type" ;;
			esac
			;;
		esac
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return 0
	fi

	if [[ $cmd == cache && -z $sub ]]; then
		COMPREPLY=($(compgen -W "$cache_commands" -- "$cur"))
		return 0
	fi

	# Operands: the position of the current word among the command's (or the cache
	# sub-command's) operands.
	local nargs=0
	for ((i = j + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--repo-type | --policy | --token | --include | --exclude | --local-dir | --jobs | --connections | -j | --sort | --output | -o | --threads | -t | --type | --name | --pre)
			((i++))
			[[ ${COMP_WORDS[i]} == "=" ]] && ((i++))
			;;
		-*) ;;
		*) ((nargs++)) ;;
		esac
	done

	case $cmd in
	help)
		((nargs == 0)) && COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		;;
	license)
		# A repository id or a directory.
		if ((nargs == 0)); then
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -d -- "$cur"))
		fi
		;;
	convert)
		# SRC: a checkpoint directory, or a repository id in the cache.
		if ((nargs == 0)); then
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -d -- "$cur"))
		fi
		;;
	quantize)
		# IN.gguf OUT.gguf TYPE
		if ((nargs < 2)); then
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -f -- "$cur"))
		elif ((nargs == 2)); then
			COMPREPLY=($(compgen -W "$quant_types" -- "$cur"))
		fi
		;;
	inspect)
		# A safetensors or GGUF file (any file: the format is read from the content).
		compopt -o filenames 2>/dev/null
		local IFS=$'\n'
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	cache)
		if [[ $sub == import ]] && ((nargs == 0)); then
			# A bundle written by modl cache export.
			compopt -o filenames 2>/dev/null
			local IFS=$'\n'
			COMPREPLY=($(compgen -f -- "$cur"))
		fi
		;;
	esac
	return 0
}

complete -F _modl modl
