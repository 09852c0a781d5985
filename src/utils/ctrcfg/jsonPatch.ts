// A small RFC 6902 applier (add / remove / replace / test) used to preview the object the API server
// will hold after the wizard's patch, and in tests to check that the patch does what the review shows.

export type PatchOperation = {
  op: 'add' | 'remove' | 'replace' | 'test';
  path: string;
  value?: unknown;
};

export class PatchError extends Error {}

/** One reference token of a JSON pointer (RFC 6901): `~` and `/` escaped, as in label keys. */
export const pointerToken = (key: string): string => key.replace(/~/g, '~0').replace(/\//g, '~1');

type Container = Record<string, unknown> | unknown[];

// Patched values are plain JSON (they come from, and go to, the API server).
const clone = <T>(value: T): T =>
  value === undefined ? value : (JSON.parse(JSON.stringify(value)) as T);

const decode = (token: string) => token.replace(/~1/g, '/').replace(/~0/g, '~');

const parentOf = (root: unknown, path: string): [Container, string] => {
  const tokens = path.split('/').slice(1).map(decode);
  const last = tokens.pop();
  if (last === undefined) throw new PatchError(`invalid path ${path}`);
  let node: unknown = root;
  for (const token of tokens) {
    if (node === null || typeof node !== 'object') throw new PatchError(`no parent for ${path}`);
    node = (node as Record<string, unknown>)[token];
  }
  if (node === null || typeof node !== 'object') throw new PatchError(`no parent for ${path}`);
  return [node as Container, last];
};

const arrayIndex = (array: unknown[], token: string, forAdd: boolean): number => {
  if (forAdd && token === '-') return array.length;
  const index = Number(token);
  const max = forAdd ? array.length : array.length - 1;
  if (!Number.isInteger(index) || index < 0 || index > max) {
    throw new PatchError(`index ${token} out of range`);
  }
  return index;
};

const get = (container: Container, token: string): unknown =>
  Array.isArray(container) ? container[arrayIndex(container, token, false)] : container[token];

const applyOne = (root: unknown, op: PatchOperation): void => {
  const [container, token] = parentOf(root, op.path);
  if (op.op === 'test') {
    if (JSON.stringify(get(container, token)) !== JSON.stringify(op.value)) {
      throw new PatchError(`test failed at ${op.path}`);
    }
    return;
  }
  if (Array.isArray(container)) {
    const index = arrayIndex(container, token, op.op === 'add');
    if (op.op === 'add') container.splice(index, 0, clone(op.value));
    else if (op.op === 'remove') container.splice(index, 1);
    else container[index] = clone(op.value);
    return;
  }
  if (op.op !== 'add' && !(token in container)) throw new PatchError(`no value at ${op.path}`);
  if (op.op === 'remove') delete container[token];
  else container[token] = clone(op.value);
};

/** Returns a patched deep copy; throws PatchError like the API server would reject the patch. */
export const applyJsonPatch = <T>(object: T, patch: readonly PatchOperation[]): T => {
  const copy = clone(object);
  patch.forEach((op) => applyOne(copy, op));
  return copy;
};
