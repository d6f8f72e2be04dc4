# fish completion for modl(1).
# Install as modl.fish in a directory of $fish_complete_path
# (such as /usr/share/fish/vendor_completions.d).

# The command: the first argument that is not an option (global options take no value).
function __modl_command
    for word in (commandline -opc)[2..-1]
        switch $word
            case '-*'
                continue
            case '*'
                echo $word
                return 0
        end
    end
    return 1
end

# True when the command is one of the arguments.
function __modl_command_is
    set -l cmd (__modl_command)
    or return 1
    contains -- $cmd $argv
end

# The cache sub-command: the first argument after "cache" that is not an option.
function __modl_cache_sub
    __modl_command_is cache
    or return 1
    set -l seen 0
    for word in (commandline -opc)[2..-1]
        switch $word
            case '-*'
                continue
            case '*'
                if test $seen -eq 1
                    echo $word
                    return 0
                end
                set seen 1
        end
    end
    return 1
end

# True when the cache sub-command is one of the arguments.
function __modl_cache_sub_is
    set -l sub (__modl_cache_sub)
    or return 1
    contains -- $sub $argv
end

# True when no operand follows the cache sub-command yet.
# True when at most $argv[1] words (default 1: the command itself) that are not options
# follow "modl" yet.
function __modl_operands_at_most
    set -l limit 1
    test (count $argv) -gt 0; and set limit $argv[1]
    set -l seen 0
    for word in (commandline -opc)[2..-1]
        switch $word
            case '-*'
                continue
            case '*'
                set seen (math $seen + 1)
        end
    end
    test $seen -le $limit
end

# True when no operand follows "convert" yet (option values are not operands).
function __modl_convert_no_operand
    set -l seen 0
    set -l skip 0
    for word in (commandline -opc)[2..-1]
        if test $skip -eq 1
            set skip 0
            continue
        end
        switch $word
            case -o --output --type -t --threads --name --pre
                set skip 1
            case '-*'
                continue
            case '*'
                set seen (math $seen + 1)
        end
    end
    test $seen -le 1
end

complete -c modl -f

# Global options, before or after the command.
complete -c modl -s h -l help -d 'Show help'
complete -c modl -l version -d 'Print the version'
complete -c modl -s q -l quiet -d 'Print nothing but results and errors'
complete -c modl -s v -l verbose -d 'Log HTTP requests and answers to stderr'
complete -c modl -l json -d 'Print one JSON document on stdout'

# Commands.
complete -c modl -n 'not __modl_command' -a pull -d 'Download a repository into the cache, verified'
complete -c modl -n 'not __modl_command' -a verify -d "Re-hash a cached snapshot against the Hub's hashes"
complete -c modl -n 'not __modl_command' -a license -d 'Audit the license terms a model ships with'
complete -c modl -n 'not __modl_command' -a cache -d 'List, clean, verify, export and import the cache'
complete -c modl -n 'not __modl_command' -a convert -d 'Convert a Hugging Face checkpoint to a (quantized) GGUF'
complete -c modl -n 'not __modl_command' -a quantize -d "Quantize a GGUF model (llama.cpp's types)"
complete -c modl -n 'not __modl_command' -a info -d "Show a repository's metadata"
complete -c modl -n 'not __modl_command' -a ls -d "List a repository's files with size, kind and hash"
complete -c modl -n 'not __modl_command' -a login -d 'Check a token with the Hub and save it'
complete -c modl -n 'not __modl_command' -a logout -d 'Remove the saved token'
complete -c modl -n 'not __modl_command' -a whoami -d 'Show the user of the token'
complete -c modl -n 'not __modl_command' -a env -d 'Show versions, endpoint, paths and token presence'
complete -c modl -n 'not __modl_command' -a inspect -d 'Show the header of a safetensors or GGUF file'
complete -c modl -n 'not __modl_command' -a help -d 'Show the usage of a command'

# pull, verify, license, info, ls
complete -c modl -n '__modl_command_is pull verify license info ls' -l repo-type -x -a 'model dataset space' -d 'Repository type'

# pull
complete -c modl -n '__modl_command_is pull' -l include -x -d 'Take only matching paths (glob)'
complete -c modl -n '__modl_command_is pull' -l exclude -x -d 'Leave matching paths out (glob)'
complete -c modl -n '__modl_command_is pull' -l local-dir -x -a '(__fish_complete_directories (commandline -ct))' -d 'Write plain files to DIR instead of the cache'
complete -c modl -n '__modl_command_is pull' -l jobs -x -d 'Files at once (default 8)'
complete -c modl -n '__modl_command_is pull' -l connections -x -d 'Byte ranges at once per large file (default 8)'
complete -c modl -n '__modl_command_is pull' -l policy -r -F -d 'Check the license against a JSON policy first; exit 7 when it fails'
complete -c modl -n '__modl_command_is pull' -l dry-run -d 'Show what would be downloaded and what is cached'
complete -c modl -n '__modl_command_is pull' -l force -d 'Download again even what is already there'

# license
complete -c modl -n '__modl_command_is license' -l policy -r -F -d 'JSON policy; exit 7 when the model breaks it'
complete -c modl -n '__modl_command_is license' -l remote -d 'Read the repository from the Hub even when it is cached'
complete -c modl -n '__modl_command_is license' -a '(__fish_complete_directories (commandline -ct))'

# login
complete -c modl -n '__modl_command_is login' -l token -x -a - -d 'Access token, or - for standard input'

# convert SRC
complete -c modl -n '__modl_command_is convert' -s o -l output -r -F -d 'The GGUF file, or a directory for the default name'
complete -c modl -n '__modl_command_is convert' -l type -x -a 'F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K' -d 'Output type'
complete -c modl -n '__modl_command_is convert' -s t -l threads -x -d 'Worker threads (default: every core)'
complete -c modl -n '__modl_command_is convert' -l name -x -d 'general.name (default: from the model card, config or folder)'
complete -c modl -n '__modl_command_is convert' -l pre -x -a 'llama-bpe smaug-bpe qwen2 tekken smollm gpt-2 default' -d 'tokenizer.ggml.pre for a BPE tokenizer not in the table'
complete -c modl -n '__modl_command_is convert; and __modl_convert_no_operand' -a '(__fish_complete_directories (commandline -ct))'

# quantize IN.gguf OUT.gguf TYPE
complete -c modl -n '__modl_command_is quantize' -s t -l threads -x -d 'Worker threads (default: every core)'
complete -c modl -n '__modl_command_is quantize' -l allow-requantize -d 'Accept already-quantized tensors as input'
complete -c modl -n '__modl_command_is quantize' -F
complete -c modl -n '__modl_command_is quantize' -a 'F32 F16 BF16 Q8_0 Q4_0 Q4_1 Q5_0 Q5_1 Q2_K Q3_K_S Q3_K_M Q3_K_L Q4_K_S Q4_K_M Q5_K_S Q5_K_M Q6_K' -d 'Type'

# inspect
complete -c modl -n '__modl_command_is inspect' -l tensors -d 'List every tensor'
complete -c modl -n '__modl_command_is inspect' -F

# cache SUBCOMMAND
complete -c modl -n '__modl_command_is cache; and not __modl_cache_sub' -a ls -d 'List the cached repositories'
complete -c modl -n '__modl_command_is cache; and not __modl_cache_sub' -a rm -d 'Remove a repository, or one revision'
complete -c modl -n '__modl_command_is cache; and not __modl_cache_sub' -a prune -d 'Remove detached revisions, orphan blobs, stale partials'
complete -c modl -n '__modl_command_is cache; and not __modl_cache_sub' -a verify -d 'Re-hash every blob against its name'
complete -c modl -n '__modl_command_is cache; and not __modl_cache_sub' -a export -d 'Write a repository to a bundle'
complete -c modl -n '__modl_command_is cache; and not __modl_cache_sub' -a import -d 'Check a bundle and add it to the cache'
complete -c modl -n '__modl_cache_sub_is ls' -l revisions -d 'One line per revision'
complete -c modl -n '__modl_cache_sub_is ls' -l sort -x -a 'size name accessed' -d 'Sort order'
complete -c modl -n '__modl_cache_sub_is rm prune' -s n -l dry-run -d 'Show what would be removed and the space freed'
complete -c modl -n '__modl_cache_sub_is rm prune' -s y -l yes -d 'Do not ask for confirmation'
complete -c modl -n '__modl_cache_sub_is rm verify export' -l repo-type -x -a 'model dataset space' -d 'Repository type'
complete -c modl -n '__modl_cache_sub_is export' -s o -l output -r -F -d 'The bundle (.tar, .tar.gz, .tar.zst, or - for stdout)'
complete -c modl -n '__modl_cache_sub_is import; and __modl_operands_at_most 2' -F

# help COMMAND
complete -c modl -n '__modl_command_is help; and __modl_operands_at_most' -a 'pull verify license cache convert quantize info ls login logout whoami env inspect help'
