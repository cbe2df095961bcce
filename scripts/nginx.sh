#!/bin/sh
# Nginx in front of gunicorn, from the template in nginx/:
#   nginx.sh cert     make a self-signed certificate if there is none (TLS_CERT, TLS_KEY)
#   nginx.sh render   write the rendered config to $NGINX_RUN_DIR/nginx.conf and test it
#   nginx.sh run      cert + render, then Nginx in the foreground
# Defaults suit `make run-nginx` on one machine: unprivileged ports 8080/8443, files under
# instance/nginx. The container sets the same variables to 80/443 and its own paths.
set -eu
cd "$(dirname "$0")/.."
root="$PWD"
: "${INSTANCE_PATH:=$root/instance}"
: "${NGINX_HTTP_PORT:=127.0.0.1:8080}"
: "${NGINX_HTTPS_PORT:=127.0.0.1:8443}"
: "${HTTPS_REDIRECT_PORT=:${NGINX_HTTPS_PORT##*:}}"
: "${WEB_UPSTREAMS:=server ${BIND:-127.0.0.1:8000};}"
: "${STATIC_ROOT:=$root/static}"
: "${MEDIA_ROOT:=${MEDIA_DIR:-$INSTANCE_PATH/media}}"
: "${NGINX_RUN_DIR:=$INSTANCE_PATH/nginx}"
: "${NGINX_LOG_DIR:=$NGINX_RUN_DIR}"
: "${NGINX_CONF_DIR:=$root/nginx}"
: "${TLS_CERT:=$INSTANCE_PATH/tls/cert.pem}"
: "${TLS_KEY:=$INSTANCE_PATH/tls/key.pem}"
: "${TLS_HOSTNAMES:=localhost}"
: "${CLIENT_MAX_BODY_SIZE:=$((2 * ${STUDIO_MAX_UPLOAD_MB:-200} + 10))m}"
[ "$HTTPS_REDIRECT_PORT" = ":443" ] && HTTPS_REDIRECT_PORT=""
# Started as root, Nginx's workers switch to NGINX_USER (the container: www-data). Locally they
# keep the caller's account so they can read the instance folder.
NGINX_USER_LINE=""
[ "$(id -u)" -eq 0 ] && NGINX_USER_LINE="user ${NGINX_USER:-$(id -un)};"
export NGINX_HTTP_PORT NGINX_HTTPS_PORT HTTPS_REDIRECT_PORT WEB_UPSTREAMS STATIC_ROOT MEDIA_ROOT \
  NGINX_RUN_DIR NGINX_LOG_DIR NGINX_CONF_DIR TLS_CERT TLS_KEY CLIENT_MAX_BODY_SIZE NGINX_USER_LINE

cert() {
  [ -s "$TLS_CERT" ] && [ -s "$TLS_KEY" ] && return 0
  mkdir -p "$(dirname "$TLS_CERT")" "$(dirname "$TLS_KEY")"
  # Names and addresses kiosks use to reach this server: TLS_HOSTNAMES="kiosk.lan 192.168.1.20"
  san="IP:127.0.0.1"
  for name in $TLS_HOSTNAMES; do
    case "$name" in
      *[!0-9.]*) san="$san,DNS:$name" ;;
      *) san="$san,IP:$name" ;;
    esac
  done
  umask 077
  openssl req -x509 -newkey rsa:2048 -nodes -days 825 -sha256 \
    -subj "/CN=${TLS_HOSTNAMES%% *}" -addext "subjectAltName=$san" \
    -keyout "$TLS_KEY" -out "$TLS_CERT" 2>/dev/null
  echo "made a self-signed certificate for $san: $TLS_CERT"
}

render() {
  mkdir -p "$NGINX_RUN_DIR" "$NGINX_LOG_DIR"
  vars='${NGINX_HTTP_PORT} ${NGINX_HTTPS_PORT} ${HTTPS_REDIRECT_PORT} ${WEB_UPSTREAMS}
        ${STATIC_ROOT} ${MEDIA_ROOT} ${NGINX_RUN_DIR} ${NGINX_LOG_DIR} ${NGINX_CONF_DIR}
        ${TLS_CERT} ${TLS_KEY} ${CLIENT_MAX_BODY_SIZE} ${NGINX_USER_LINE}'
  envsubst "$vars" <"$NGINX_CONF_DIR/face-platform.conf.template" >"$NGINX_RUN_DIR/nginx.conf"
  nginx -q -t -e "$NGINX_LOG_DIR/error.log" -p "$NGINX_RUN_DIR" -c "$NGINX_RUN_DIR/nginx.conf"
}

case "${1:-run}" in
  cert) cert ;;
  render) render ;;
  run)
    cert
    render
    mkdir -p "$MEDIA_ROOT"
    echo "Nginx on https://${NGINX_HTTPS_PORT} (and http://${NGINX_HTTP_PORT} -> https)"
    exec nginx -e "$NGINX_LOG_DIR/error.log" -p "$NGINX_RUN_DIR" -c "$NGINX_RUN_DIR/nginx.conf" \
      -g "daemon off;"
    ;;
  *) echo "usage: $0 cert|render|run" >&2; exit 2 ;;
esac
