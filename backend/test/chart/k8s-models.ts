// A second, independent check of the built-in kinds the chart renders (core, apps, batch, rbac):
// every field name and value type is looked up in @kubernetes/client-node's API models, which are
// generated from the Kubernetes OpenAPI document (client-node 1.4: Kubernetes 1.34). The strict
// schemas in k8s-schemas.ts are written by hand (and also cover the OpenShift kinds and required
// fields); this walk catches a field that they accept but the real API does not have, or a value
// of the wrong JSON type. The API server's semantic validation (e.g. port ranges) is not modelled
// here: k8s-schemas.ts checks what the chart relies on.
import * as k8s from '@kubernetes/client-node';

interface Attribute {
  baseName: string;
  type: string;
  format: string;
}
interface Model {
  getAttributeTypeMap(): Attribute[];
}

const BUILT_IN_GROUPS = new Set([
  'v1',
  'apps/v1',
  'batch/v1',
  'policy/v1',
  'rbac.authorization.k8s.io/v1',
]);

function modelNamed(name: string): Model | undefined {
  const candidate = (k8s as unknown as Record<string, unknown>)[name];
  return typeof candidate === 'function' && 'getAttributeTypeMap' in candidate
    ? (candidate as unknown as Model)
    : undefined;
}

/** True for apiVersions whose kinds client-node models (the chart's CRDs are checked elsewhere). */
export function isBuiltIn(apiVersion: string): boolean {
  return BUILT_IN_GROUPS.has(apiVersion);
}

const typeOf = (value: unknown): string =>
  value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value;

function check(value: unknown, type: string, format: string, path: string, out: string[]): void {
  const array = /^Array<(.+)>$/.exec(type);
  if (array) {
    if (!Array.isArray(value)) {
      out.push(`${path}: expected a list, got ${typeOf(value)}`);
      return;
    }
    value.forEach((item, i) => check(item, array[1], '', `${path}[${i}]`, out));
    return;
  }
  const map = /^\{ \[key: string\]: (.+); \}$/.exec(type);
  if (map) {
    if (typeOf(value) !== 'object') {
      out.push(`${path}: expected a map, got ${typeOf(value)}`);
      return;
    }
    for (const [key, item] of Object.entries(value as object))
      check(item, map[1], '', `${path}.${key}`, out);
    return;
  }
  switch (type) {
    case 'any':
      return;
    case 'string':
    case 'Date':
      if (typeof value !== 'string') out.push(`${path}: expected a string, got ${typeOf(value)}`);
      return;
    case 'boolean':
      if (typeof value !== 'boolean') out.push(`${path}: expected a boolean, got ${typeOf(value)}`);
      return;
    case 'number':
      if (typeof value !== 'number') out.push(`${path}: expected a number, got ${typeOf(value)}`);
      else if (/^int/.test(format) && !Number.isInteger(value))
        out.push(`${path}: expected an integer, got ${String(value)}`);
      return;
    case 'IntOrString':
      if (!(typeof value === 'string' || Number.isInteger(value)))
        out.push(`${path}: expected an integer or a string, got ${typeOf(value)}`);
      return;
  }
  const model = modelNamed(type);
  if (!model) {
    out.push(`${path}: client-node has no model ${type}`);
    return;
  }
  if (typeOf(value) !== 'object') {
    out.push(`${path}: expected an object (${type}), got ${typeOf(value)}`);
    return;
  }
  const attributes = new Map(model.getAttributeTypeMap().map((a) => [a.baseName, a]));
  for (const [key, item] of Object.entries(value as object)) {
    const attribute = attributes.get(key);
    if (!attribute) {
      out.push(`${path}.${key}: no such field in ${type}`);
      continue;
    }
    check(item, attribute.type, attribute.format, `${path}.${key}`, out);
  }
}

/**
 * Problems of one built-in object against client-node's model of its kind, one line each;
 * empty when every field exists with a value of the right type.
 */
export function checkAgainstApiModel(object: { apiVersion: string; kind: string }): string[] {
  if (!isBuiltIn(object.apiVersion)) return [`${object.apiVersion} is not a built-in API group`];
  const name = `V1${object.kind}`;
  if (!modelNamed(name))
    return [`client-node has no model for ${object.apiVersion} ${object.kind}`];
  const out: string[] = [];
  check(object, name, '', object.kind, out);
  return out;
}
