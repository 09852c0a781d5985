#!/bin/sh
# Adds or removes a console plugin in consoles.operator.openshift.io/cluster `spec.plugins`.
# Usage: console-plugins.sh add|remove <plugin-name>
#
# - Idempotent: adding a plugin that is listed, or removing one that is not, changes nothing.
# - Keeps every other plugin, in order. Removing drops every copy of the name.
# - Safe against concurrent writers: the merge patch carries the resourceVersion that was read,
#   so the API server refuses it (Conflict) if the list changed meanwhile; then read again.
# - A cluster without the console (capability disabled, or not OpenShift) is not an error:
#   nothing to add to, nothing to remove from.
set -eu

action=${1:-}
plugin=${2:-}
case $action in
  add | remove) ;;
  *)
    echo "usage: $0 add|remove <plugin-name>" >&2
    exit 2
    ;;
esac
if [ -z "$plugin" ]; then
  echo "usage: $0 add|remove <plugin-name>" >&2
  exit 2
fi

resource=consoles.operator.openshift.io
attempts=5

# Prints the merge patch that makes the plugin list right, or nothing when it already is.
desired_patch() {
  jq -c --arg action "$action" --arg plugin "$plugin" '
    (.spec.plugins // []) as $current
    | (if $action == "add"
       then (if any($current[]; . == $plugin) then $current else $current + [$plugin] end)
       else [$current[] | select(. != $plugin)]
       end) as $wanted
    | if $wanted == $current then empty
      else {metadata: {resourceVersion: .metadata.resourceVersion}, spec: {plugins: $wanted}}
      end'
}

attempt=1
while :; do
  # stdout only: oc may print warnings on stderr, which must not end up in the JSON.
  if ! console=$(oc get "$resource" cluster -o json 2>/dev/null); then
    error=$(oc get "$resource" cluster -o json 2>&1 >/dev/null || true)
    case $error in
      *NotFound* | *"doesn't have a resource type"* | *"no matches for kind"*)
        echo "no $resource/cluster on this cluster: nothing to $action"
        exit 0
        ;;
    esac
    echo "reading $resource/cluster failed: $error" >&2
    exit 1
  fi
  patch=$(printf '%s\n' "$console" | desired_patch)
  if [ -z "$patch" ]; then
    echo "console plugin $plugin: nothing to $action ($resource/cluster is already right)"
    exit 0
  fi
  if result=$(oc patch "$resource" cluster --type=merge -p "$patch" 2>&1); then
    echo "console plugin $plugin: ${action} done ($result)"
    exit 0
  fi
  case $result in
    *Conflict* | *"the object has been modified"*)
      if [ "$attempt" -ge "$attempts" ]; then
        echo "giving up after $attempts conflicting updates: $result" >&2
        exit 1
      fi
      attempt=$((attempt + 1))
      echo "$resource/cluster changed while we updated it; reading it again"
      ;;
    *)
      echo "updating $resource/cluster failed: $result" >&2
      exit 1
      ;;
  esac
done
