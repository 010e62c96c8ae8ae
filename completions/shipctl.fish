# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_shipctl_global_optspecs
    string join \n f/file= p/project= spec= env-file= H/host= kv= output= y/yes non-interactive v/verbose h/help V/version
end

function __fish_shipctl_needs_command
    # Figure out if the current invocation already has a command.
    set -l cmd (commandline -opc)
    set -e cmd[1]
    argparse -s (__fish_shipctl_global_optspecs) -- $cmd 2>/dev/null
    or return
    if set -q argv[1]
        # Also print the command, so this can be used to figure out what it is.
        echo $argv[1]
        return 1
    end
    return 0
end

function __fish_shipctl_using_subcommand
    set -l cmd (__fish_shipctl_needs_command)
    test -z "$cmd"
    and return 1
    contains -- $cmd[1] $argv
end

complete -c shipctl -n "__fish_shipctl_needs_command" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_needs_command" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_needs_command" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_needs_command" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_needs_command" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_needs_command" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_needs_command" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_needs_command" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_needs_command" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_needs_command" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_needs_command" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_needs_command" -s V -l version -d 'Print version'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "plan" -d 'Show what `deploy` would do, without touching anything (same as `deploy --dry-run`)'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "deploy" -d 'Deploy new versions of services with zero downtime'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "status" -d 'Show each service\'s active zone, versions, health, traffic and locks'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "promote" -d 'Finish a canary: new zone to full, flip the keys, drain the old zone'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "abort" -d 'Undo a canary: old zone back to full, traffic to the old version, new zone to 0'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "rollback" -d 'Go back to an earlier version of a service, or of the whole stack (warm zones are instant)'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "history" -d 'Show the project\'s releases, or the deploy history of a service'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "route" -d 'Keep a router config (nginx, HAProxy) in line with the routing keys'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "unlock" -d 'Break a deploy lock left by someone else'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "completions" -d 'Print a shell completion script'
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l version -d 'The version to deploy; sets IMAGE_VERSION (and BLUE_/GREEN_IMAGE_VERSION) or replaces the image tag' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l strategy -d 'How to move traffic [default: spec, else blue-green]' -r -f -a "blue-green\t''
canary\t''
rolling\t''
in-place\t'One Swarm service updated by Swarm itself, for what must never run twice side by side'"
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l new -d 'Canary: replicas of the new version' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l old -d 'Canary: replicas of the old version kept alongside' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l step -d 'Rolling: replicas moved per batch' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l replicas -d 'Full replica count of a zone [default: spec, else compose deploy.replicas, else 1]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l assume-state -d 'Plan against this state instead of reading the cluster, e.g. `blue@1.3.0`, `none`, `web=blue@1.3.0,api=green@2.0`' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l out -d 'Save the plan as JSON (with `plan`)' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l plan -d 'Apply a plan saved with `plan --out`; refused if the cluster changed since' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l lock-wait -d 'Wait this long for another deploy\'s lock instead of failing (e.g. 2m)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s m -l message -d 'A note stored with the lock and the history record' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l promote -d 'Canary: promote at the end instead of leaving the canary running'
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l dry-run -d 'Print the plan and change nothing'
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l version -d 'The version to deploy; sets IMAGE_VERSION (and BLUE_/GREEN_IMAGE_VERSION) or replaces the image tag' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l strategy -d 'How to move traffic [default: spec, else blue-green]' -r -f -a "blue-green\t''
canary\t''
rolling\t''
in-place\t'One Swarm service updated by Swarm itself, for what must never run twice side by side'"
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l new -d 'Canary: replicas of the new version' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l old -d 'Canary: replicas of the old version kept alongside' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l step -d 'Rolling: replicas moved per batch' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l replicas -d 'Full replica count of a zone [default: spec, else compose deploy.replicas, else 1]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l assume-state -d 'Plan against this state instead of reading the cluster, e.g. `blue@1.3.0`, `none`, `web=blue@1.3.0,api=green@2.0`' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l out -d 'Save the plan as JSON (with `plan`)' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l plan -d 'Apply a plan saved with `plan --out`; refused if the cluster changed since' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l lock-wait -d 'Wait this long for another deploy\'s lock instead of failing (e.g. 2m)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s m -l message -d 'A note stored with the lock and the history record' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l promote -d 'Canary: promote at the end instead of leaving the canary running'
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l dry-run -d 'Print the plan and change nothing'
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l timeout -d 'How long `--wait` waits (e.g. 2m)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l watch -d 'Redraw live on a terminal'
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l wait -d 'Exit 0 only once every service is settled and healthy'
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s m -l message -d 'A note stored with the lock and the history record' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l dry-run -d 'Print the plan and change nothing'
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s m -l message -d 'A note stored with the lock and the history record' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l dry-run -d 'Print the plan and change nothing'
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l to -d 'With SERVICE: the version to go back to. Without: the release whose versions to go back to (its id from `shipctl history`) [default: ask on a terminal]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l dry-run -d 'Print the plan and change nothing'
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s n -l limit -d 'How many records to show' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l template -d 'Built-in template or a template file' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l config -d 'Where to write the rendered config' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l reload -d 'Command that reloads the router after a change' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l check -d 'Command that validates a rendered file first (`{file}` is replaced)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l listen -d 'Address the router listens on (template variable `listen`)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l port -d 'Port of the tasks that get the traffic (template variable `port`) [default: the service\'s first `ports:` target, else 80]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l interval -d 'How often the zone tasks are read (the keys are watched)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l var -d 'An extra template variable, available as `vars.KEY`; repeatable' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l id -d 'This router\'s name: it registers as `{router key}/ID` and deploys wait for every live router [default: host name, config file name and a hash of its path]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l heartbeat -d 'How often the registration is rewritten; a deploy stops waiting for a router whose registration did not change for three heartbeats' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l once -d 'Render once and exit'
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand route" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "plan" -d 'Show what `deploy` would do, without touching anything (same as `deploy --dry-run`)'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "deploy" -d 'Deploy new versions of services with zero downtime'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "status" -d 'Show each service\'s active zone, versions, health, traffic and locks'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "promote" -d 'Finish a canary: new zone to full, flip the keys, drain the old zone'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "abort" -d 'Undo a canary: old zone back to full, traffic to the old version, new zone to 0'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "rollback" -d 'Go back to an earlier version of a service, or of the whole stack (warm zones are instant)'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "history" -d 'Show the project\'s releases, or the deploy history of a service'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "route" -d 'Keep a router config (nginx, HAProxy) in line with the routing keys'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "unlock" -d 'Break a deploy lock left by someone else'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
