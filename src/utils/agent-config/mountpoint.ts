// The agent's mountpoint from agent.yaml, read without a YAML parser so that the overview page does
// not load one: `mountpoint` is a top-level scalar path (contract: agent configuration).
const MOUNTPOINT = /^mountpoint:[ \t]*(["']?)(\/[^"'\s#]*)\1[ \t]*(#.*)?$/m;

export const readMountpoint = (yamlText: string | undefined): string | undefined =>
  yamlText ? MOUNTPOINT.exec(yamlText)?.[2] : undefined;
