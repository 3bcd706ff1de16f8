#!/usr/bin/env bash
# A real WordPress (Debian's packages) on 127.0.0.1 for the test-suite; everything lives under DIR.
#   wordpress.sh install          as root: apt-get the packages if any is missing
#   wordpress.sh start DIR PORT   private MariaDB (unix socket only) + PHP's built-in server; prints
#                                 WORDPRESS_URL=, WORDPRESS_USERNAME=, WORDPRESS_APP_PASSWORD= lines
#   wordpress.sh stop DIR         stops both servers of DIR; no error when not running
# Only those three lines go to stdout, progress to stderr. Test use only: fixed secrets.
set -euo pipefail

PACKAGES=(wordpress mariadb-server php-cli php-mysql)
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
say() { echo "wordpress.sh: $*" >&2; }
die() { say "error: $*"; exit 1; }

missing_packages() {
    local p
    for p in "${PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q 'ok installed' || echo "$p"
    done
}

cmd_install() {
    local missing
    missing=$(missing_packages | xargs)
    if [ -z "$missing" ] && command -v php >/dev/null && command -v mariadbd >/dev/null; then return; fi
    [ "$(id -u)" = 0 ] || die "missing packages: ${missing:-?}; as root run: $0 install"
    # apt-install.sh keeps apache2 and mariadb from starting: the tests start their own.
    # shellcheck disable=SC2086 # one word per package
    "$(dirname "${BASH_SOURCE[0]}")/apt-install.sh" $missing
}

# alive PID: exists and is no zombie (orphans wait for init, which may be slow to reap them).
alive() {
    local state
    state=$(ps -o stat= -p "$1" 2>/dev/null) && [[ $state != Z* ]]
}

cmd_stop() {
    local dir=$1 name pid i
    for name in php mariadbd; do
        [ -s "$dir/$name.pid" ] || continue
        pid=$(cat "$dir/$name.pid")
        rm -f "$dir/$name.pid"
        grep -qa "$dir" "/proc/$pid/cmdline" 2>/dev/null || continue # stale pid file
        # Each server leads its own process group: php's holds its workers, which would
        # outlive a master killed alone and keep serving the port.
        kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < 150; i++)); do alive "$pid" || break; sleep 0.1; done
        if alive "$pid"; then
            say "$name ($pid) still running after 15 s, killing it"
            kill -KILL -- "-$pid" 2>/dev/null || true
        fi
    done
}

# wait_for WHAT LOG PID COMMAND...: polls COMMAND for up to 30 s while PID lives.
wait_for() {
    local what=$1 log=$2 pid=$3 i
    shift 3
    for ((i = 0; i < 300; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        alive "$pid" || die "$what exited; see $log"
        sleep 0.1
    done
    die "$what not ready after 30 s; see $log"
}

cmd_start() {
    local dir port=$2 sock docroot f password
    [ -z "$(missing_packages)" ] || die "packages missing; run (as root): $0 install"
    mkdir -p "$1"
    dir=$(cd "$1" && pwd -P)
    sock=$dir/mysql.sock docroot=$dir/docroot
    [ ${#sock} -lt 100 ] || die "path too long for a unix socket: $sock"
    cmd_stop "$dir"
    trap 'cmd_stop "$dir"' EXIT # a failed start leaves nothing running
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then die "port $port is already in use"; fi

    local small=(--innodb-log-file-size=8M --innodb-buffer-pool-size=64M) # default redo log: 96 MB
    if [ ! -d "$dir/mysql/mysql" ]; then
        say "initialising MariaDB in $dir/mysql"
        mariadb-install-db --no-defaults --user="$(id -un)" --datadir="$dir/mysql" --skip-test-db "${small[@]}" \
            >"$dir/mariadb-install.log" 2>&1 || { rm -rf "$dir/mysql"; die "mariadb-install-db failed; see $dir/mariadb-install.log"; }
    fi
    setsid mariadbd --no-defaults --user="$(id -un)" --datadir="$dir/mysql" --socket="$sock" "${small[@]}" \
        --skip-networking --pid-file="$dir/mariadbd.pid" --log-error="$dir/mariadbd.log" \
        </dev/null >>"$dir/mariadbd.log" 2>&1 &
    echo $! >"$dir/mariadbd.pid"
    wait_for mariadbd "$dir/mariadbd.log" $! mariadb-admin --no-defaults --socket="$sock" --connect-timeout=2 ping
    mariadb --no-defaults --socket="$sock" <<'SQL'
CREATE DATABASE IF NOT EXISTS wordpress CHARACTER SET utf8mb4;
CREATE USER IF NOT EXISTS 'wordpress'@'localhost' IDENTIFIED BY 'wordpress-test';
GRANT ALL ON wordpress.* TO 'wordpress'@'localhost';
SQL

    # Debian's /usr/share/wordpress reads /etc/wordpress and /var/lib/wordpress; this doc root has
    # its own wp-config.php and wp-content. PHP files are copied (WordPress takes ABSPATH from the
    # resolved path of wp-load.php; -h follows Debian's relative links), static assets linked.
    if [ ! -d "$docroot" ]; then
        say "building the doc root $docroot"
        local assets=(wp-admin/css wp-admin/images wp-admin/js wp-includes/css wp-includes/fonts wp-includes/images wp-includes/js)
        rm -rf "$docroot.part" && mkdir -p "$docroot.part"
        tar -C /usr/share/wordpress -ch --anchored --exclude=./wp-content --exclude=./wp-config.php \
            "${assets[@]/#/--exclude=./}" . | tar -C "$docroot.part" -x
        for f in "${assets[@]}"; do ln -s "/usr/share/wordpress/$f" "$docroot.part/$f"; done
        mv "$docroot.part" "$docroot"
    fi
    rm -rf "$docroot/wp-content/mu-plugins"
    mkdir -p "$docroot/wp-content/"{plugins,uploads,mu-plugins}
    [ -e "$docroot/wp-content/themes" ] || ln -s /usr/share/wordpress/wp-content/themes "$docroot/wp-content/themes"
    if [ -d "$REPO/templates/wordpress/mu-plugins" ]; then
        find "$REPO/templates/wordpress/mu-plugins" -maxdepth 1 -name '*.php' -exec cp {} "$docroot/wp-content/mu-plugins/" \;
    fi
    cat >"$docroot/wp-config.php" <<PHP
<?php // written by tests/servers/wordpress.sh at each start; test use only
define( 'DB_NAME', 'wordpress' );
define( 'DB_USER', 'wordpress' );
define( 'DB_PASSWORD', 'wordpress-test' );
define( 'DB_HOST', 'localhost:$sock' );
define( 'DB_CHARSET', 'utf8mb4' );
define( 'DB_COLLATE', '' );
foreach ( array( 'AUTH', 'SECURE_AUTH', 'LOGGED_IN', 'NONCE' ) as \$k ) {
	define( "{\$k}_KEY", "outreach-test-\$k-key" );
	define( "{\$k}_SALT", "outreach-test-\$k-salt" );
}
\$table_prefix = 'wp_';
define( 'WP_ENVIRONMENT_TYPE', 'local' ); // application passwords over plain http
// Links follow the Host asked for, so a test proxy in front keeps every link through itself.
define( 'WP_HOME', 'http://' . ( \$_SERVER['HTTP_HOST'] ?? '127.0.0.1:$port' ) );
define( 'WP_SITEURL', WP_HOME );
define( 'DISABLE_WP_CRON', true );
define( 'AUTOMATIC_UPDATER_DISABLED', true );
define( 'WP_HTTP_BLOCK_EXTERNAL', true );
define( 'WP_DEBUG', false );
if ( ! defined( 'ABSPATH' ) ) {
	define( 'ABSPATH', __DIR__ . '/' );
}
require_once ABSPATH . 'wp-settings.php';
PHP

    # Install once, keeping plain permalinks (clients use ?rest_route=); a fresh application password each start.
    password=$(php -d memory_limit=256M -- "$docroot" <<'PHP'
<?php
define( 'WP_INSTALLING', true );
function wp_new_blog_notification() {} // sends no mail
require $argv[1] . '/wp-load.php';
require_once ABSPATH . 'wp-admin/includes/upgrade.php';
add_filter( 'pre_http_request', function () { return new WP_Error( 'offline', 'no HTTP while installing' ); } );
if ( ! is_blog_installed() ) {
	wp_install( 'Outreach test', 'admin', 'admin@example.org', true, '', 'a-strong-admin-password' );
	update_option( 'permalink_structure', '' );
	file_put_contents( 'php://stderr', "wordpress.sh: WordPress installed\n" );
}
$user = get_user_by( 'login', 'admin' );
WP_Application_Passwords::delete_all_application_passwords( $user->ID );
$made = WP_Application_Passwords::create_new_application_password( $user->ID, array( 'name' => 'outreach-tests' ) );
if ( is_wp_error( $made ) ) {
	file_put_contents( 'php://stderr', $made->get_error_message() . "\n" );
	exit( 1 );
}
echo $made[0];
PHP
    ) || die "installing WordPress or creating the application password failed"

    say "starting PHP on 127.0.0.1:$port, log $dir/php.log"
    PHP_CLI_SERVER_WORKERS=4 setsid php -d upload_max_filesize=16M -d post_max_size=16M -d memory_limit=256M \
        -S "127.0.0.1:$port" -t "$docroot" </dev/null >>"$dir/php.log" 2>&1 &
    echo $! >"$dir/php.pid"
    wait_for "php -S" "$dir/php.log" $! sh -c "curl -sf --max-time 5 'http://127.0.0.1:$port/?rest_route=/' | grep -q '^{'"

    trap - EXIT
    echo "WORDPRESS_URL=http://127.0.0.1:$port/"
    echo "WORDPRESS_USERNAME=admin"
    echo "WORDPRESS_APP_PASSWORD=$password"
}

case "${1:-}" in
install) cmd_install ;;
start) [ $# = 3 ] || die "usage: $0 start DIR PORT"; cmd_start "$2" "$3" ;;
stop) [ $# = 2 ] || die "usage: $0 stop DIR"; if [ -d "$2" ]; then cmd_stop "$(cd "$2" && pwd -P)"; fi ;;
*) die "usage: $0 install | start DIR PORT | stop DIR" ;;
esac
