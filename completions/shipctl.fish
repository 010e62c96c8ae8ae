# Print an optspec for argparse to handle cmd's options that are independent of any subcommand.
function __fish_shipctl_global_optspecs
    string join \n f/file= p/project= spec= env-file= H/host= kv= output= events= y/yes non-interactive v/verbose h/help V/version
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
complete -c shipctl -n "__fish_shipctl_needs_command" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_needs_command" -f -a "init" -d 'Write a commented shipctl.yaml for the compose files: a strategy per service with the reason, health gates from their healthchecks, the KV keys'
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
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l task-batch -d 'Start and stop a zone\'s tasks at most N at a time, each started batch gated healthy before the next [default: spec `task_batch`, else all at once]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l replicas -d 'Full replica count of a zone [default: spec, else compose deploy.replicas, else 1]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l assume-state -d 'Plan against this state instead of reading the cluster, e.g. `blue@1.3.0`, `none`, `web=blue@1.3.0,api=green@2.0`' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l out -d 'Save the plan as JSON (with `plan`)' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l plan -d 'Apply a plan saved with `plan --out`; refused if the cluster changed since' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l lock-wait -d 'Wait this long for another deploy\'s lock instead of failing (e.g. 2m)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l parallel -d 'Start and gate at most N services of a release at once [default: the spec\'s `release.parallel`, else 32]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s m -l message -d 'A note stored with the lock and the history record' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand plan" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l task-batch -d 'Start and stop a zone\'s tasks at most N at a time, each started batch gated healthy before the next [default: spec `task_batch`, else all at once]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l replicas -d 'Full replica count of a zone [default: spec, else compose deploy.replicas, else 1]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l assume-state -d 'Plan against this state instead of reading the cluster, e.g. `blue@1.3.0`, `none`, `web=blue@1.3.0,api=green@2.0`' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l out -d 'Save the plan as JSON (with `plan`)' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l plan -d 'Apply a plan saved with `plan --out`; refused if the cluster changed since' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l lock-wait -d 'Wait this long for another deploy\'s lock instead of failing (e.g. 2m)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l parallel -d 'Start and gate at most N services of a release at once [default: the spec\'s `release.parallel`, else 32]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s m -l message -d 'A note stored with the lock and the history record' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand deploy" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_using_subcommand status" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_using_subcommand promote" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_using_subcommand abort" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_using_subcommand rollback" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
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
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l markdown -d 'Print Markdown for a CI summary, an issue or a merge request: the table, then the newest runs as Mermaid charts of their steps and traffic (GitHub and GitLab draw them)'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand history" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l template -d 'Built-in template or a template file' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l config -d 'Where to write the rendered config' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l reload -d 'Command that reloads the router after a change' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l check -d 'Command that validates a rendered file first (`{file}` is replaced)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l listen -d 'Address the router listens on (template variable `listen`)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l port -d 'Port of the tasks that get the traffic (template variable `port`) [default: the service\'s first `ports:` target, else 80]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l interval -d 'How often the zone tasks are read (the keys are watched)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l var -d 'An extra template variable, available as `vars.KEY`; repeatable' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l id -d 'This router\'s name: it registers as `{router key}/ID` and deploys wait for every live router [default: host name, config file name and a hash of its path]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l heartbeat -d 'How often the registration is rewritten; a deploy stops waiting for a router whose registration did not change for three heartbeats' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l via -d 'How traffic reaches the tasks: `auto` takes a task\'s host-mode port at its node\'s address (or its container\'s bridge address) when it publishes one, `overlay` always its address on the stack\'s network (a router in a container)' -r -f -a "auto\t''
overlay\t''"
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l exec -d 'Run the router program (e.g. `nginx -g \'daemon off;\'`) once the first config is installed, as `sh -c \'exec CMD\'` (one program, so that signals reach it); `route` exits when it exits, and stops it (SIGTERM) when `route` stops' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l stats-listen -d 'Serve per-zone traffic counters on `GET http://ADDR/metrics` (Prometheus text), e.g. 127.0.0.1:9180, taken from one log line per request that the rendered config sends to `--stats-syslog`; the URL is advertised in the registration [default: off]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l stats-syslog -d 'Where the router sends its log lines with `--stats-listen` (UDP syslog; template variable `stats_syslog`) [default: 127.0.0.1 on a free port]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l stats-advertise -d 'The host name in the advertised stats URL [default: the `--stats-listen` address, or the host name when it listens on every address]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l haproxy-socket -d 'HAProxy\'s stats socket (template variable `haproxy_socket`, declared `level admin` by the built-in template): weight and task changes that keep the config\'s shape go through its runtime API, without a reload; the file is still written' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l caddy-admin -d 'Caddy\'s admin API, e.g. http://127.0.0.1:2019 (template variable `caddy_admin`, its HOST:PORT, which the built-in template keeps as `admin.listen`): each changed config is loaded there with `POST /load` instead of a reload command; the file is still written' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l targets-json -d 'The services to route as `route deploy` resolved them (JSON), instead of reading the compose files and the spec; needs `--project`' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l once -d 'Render once and exit'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and not __fish_seen_subcommand_from deploy" -a "deploy" -d 'Run the router (shipctl route with nginx or HAProxy) as a Swarm service in front of the stack'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l image -d 'The router image (docker/router.Dockerfile)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l name -d 'The router service\'s name [default: {project}_router]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l proxy -d 'The proxy that serves the traffic' -r -f -a "nginx\t''
haproxy\t''"
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l mode -d 'One router per node, or a number of replicas' -r -f -a "global\t'One router per node (where the constraints allow)'
replicated\t'`--replicas` routers'"
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l replicas -d 'Routers in replicated mode' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l publish -d 'Port published on the nodes (repeatable; none: reach the routers over the network)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l publish-mode -d 'How the ports are published' -r -f -a "host\t'On each node that runs a router (works without the routing mesh)'
ingress\t'Through the routing mesh, on every node'"
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l constraint -d 'Placement constraint, e.g. `node.labels.edge == true` (repeatable)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l router-docker-host -d 'How the routers reach a manager\'s API, e.g. tcp://manager:2376 (with `--env DOCKER_TLS_VERIFY=1` and certificates); without it they mount the manager\'s socket and run on managers' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l socket-gid -d 'With the socket: a group id that may use it (e.g. the `docker` group\'s); without it the routers run as root in their containers' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l network -d 'Another network for the routers to join besides the services\' own, e.g. one where a socket proxy serves a manager\'s API (repeatable)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l router-kv -d 'The KV store as the routers reach it [default: the one this command uses]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l env -d 'An environment variable for the routers, e.g. CONSUL_HTTP_TOKEN=… (repeatable)' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l port -d 'Port of the tasks that get the traffic [default: the service\'s first `ports:` target, else 80]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l heartbeat -d 'How often each router rewrites its registration' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l interval -d 'How often each router reads the zone tasks' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l dry-run -d 'Print the service spec (JSON) and change nothing'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand route; and __fish_seen_subcommand_from deploy" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand unlock" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l force -d 'Replace an existing spec file'
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand init" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s f -l file -d 'Compose file(s); repeat to merge like `docker compose -f a -f b` [default: $COMPOSE_FILE, else compose.yaml, compose.yml, docker-compose.yaml, docker-compose.yml]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s p -l project -d 'Project (stack) name [default: $COMPOSE_PROJECT_NAME, else spec `project:`, else the compose file\'s directory name]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l spec -d 'Strategy spec [default: shipctl.yaml if present]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l env-file -d 'Variables file for interpolation [default: .env next to the first compose file]' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s H -l host -d 'Docker engine (a Swarm manager) [default: $DOCKER_HOST, else the local socket]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l kv -d 'KV store for the routing keys: swarm://, consul://HOST:PORT, consul+https://HOST:PORT, etcd://HOST:PORT [default: spec `kv.url`, else swarm://]' -r
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l output -d 'Output format' -r -f -a "text\t'Readable text; progress bars on a terminal'
json\t'JSON (NDJSON events while running, then a summary object)'"
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l events -d 'Also append every event of a run (deploy, promote, abort, rollback) to FILE as NDJSON, whatever --output says: a CI job keeps readable logs and a file for programs' -r -F
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s y -l yes -d 'Answer yes to every confirmation'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -l non-interactive -d 'Never prompt (implied when stdin is not a terminal or CI is set)'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s v -l verbose -d 'More detail (-v, -vv); RUST_LOG works too'
complete -c shipctl -n "__fish_shipctl_using_subcommand completions" -s h -l help -d 'Print help (see more with \'--help\')'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "plan" -d 'Show what `deploy` would do, without touching anything (same as `deploy --dry-run`)'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "deploy" -d 'Deploy new versions of services with zero downtime'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "status" -d 'Show each service\'s active zone, versions, health, traffic and locks'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "promote" -d 'Finish a canary: new zone to full, flip the keys, drain the old zone'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "abort" -d 'Undo a canary: old zone back to full, traffic to the old version, new zone to 0'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "rollback" -d 'Go back to an earlier version of a service, or of the whole stack (warm zones are instant)'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "history" -d 'Show the project\'s releases, or the deploy history of a service'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "route" -d 'Keep a router config (nginx, HAProxy) in line with the routing keys'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "unlock" -d 'Break a deploy lock left by someone else'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "init" -d 'Write a commented shipctl.yaml for the compose files: a strategy per service with the reason, health gates from their healthchecks, the KV keys'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "completions" -d 'Print a shell completion script'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and not __fish_seen_subcommand_from plan deploy status promote abort rollback history route unlock init completions help" -f -a "help" -d 'Print this message or the help of the given subcommand(s)'
complete -c shipctl -n "__fish_shipctl_using_subcommand help; and __fish_seen_subcommand_from route" -f -a "deploy" -d 'Run the router (shipctl route with nginx or HAProxy) as a Swarm service in front of the stack'
