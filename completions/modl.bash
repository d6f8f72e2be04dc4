# bash completion for modl(1).
# Install as $(pkg-config --variable=completionsdir bash-completion)/modl, or source it.
# Needs no other completion helpers.

_modl()
{
	local cur prev cmd i word
	local globals="--help -h --version --quiet -q --verbose -v --json"
	local commands="pull verify info ls login logout whoami env inspect help"
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

	# Option values.
	case $prev in
	--repo-type)
		case $cmd in
		pull | verify | info | ls)
			COMPREPLY=($(compgen -W "$repo_types" -- "$cur"))
			return 0
			;;
		esac
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
		pull) opts+=" --include --exclude --repo-type --local-dir --jobs --connections --dry-run --force" ;;
		verify | info | ls) opts+=" --repo-type" ;;
		login) opts+=" --token" ;;
		inspect) opts+=" --tensors" ;;
		esac
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return 0
	fi

	if [[ -z $cmd ]]; then
		COMPREPLY=($(compgen -W "$commands" -- "$cur"))
		return 0
	fi

	# Operands: the position of the current word among the command's operands.
	local nargs=0
	for ((i = i + 1; i < COMP_CWORD; i++)); do
		case ${COMP_WORDS[i]} in
		--repo-type | --token | --include | --exclude | --local-dir | --jobs | --connections | -j)
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
	inspect)
		# A safetensors or GGUF file (any file: the format is read from the content).
		compopt -o filenames 2>/dev/null
		local IFS=$'\n'
		COMPREPLY=($(compgen -f -- "$cur"))
		;;
	esac
	return 0
}

complete -F _modl modl
