/**
 * What the API server does to a custom resource's object before it stores it, as far as the
 * stored value is concerned: fields the structural schema does not know are pruned, nulls in
 * fields that are not nullable are dropped, and then defaults are applied, recursing into every
 * value (the defaulted ones too), as apiextensions-apiserver's structural defaulting does. A
 * client that computes a hash over a spec "as stored" (the Manifest hash) runs its YAML through
 * this first. Pure; the input is not modified.
 */
import type { JSONSchemaProps } from './schema.ts';

export function withSchemaDefaults(value: unknown, schema: JSONSchemaProps): unknown {
  if (Array.isArray(value)) return schema.items ? value.map((v) => withSchemaDefaults(v, schema.items!)) : value;
  if (value === null || typeof value !== 'object') return value;
  const input = value as Record<string, unknown>;
  const properties = schema.properties;
  if (!properties) {
    if (schema['x-kubernetes-preserve-unknown-fields']) return structuredClone(input);
    const additional = schema.additionalProperties;
    if (typeof additional === 'object')
      return Object.fromEntries(Object.entries(input).map(([k, v]) => [k, withSchemaDefaults(v, additional)]));
    return additional === true ? structuredClone(input) : {};
  }
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(input)) {
    const property = properties[key];
    if (!property) {
      if (schema['x-kubernetes-preserve-unknown-fields']) out[key] = structuredClone(v);
      continue;
    }
    if (v === null && !property.nullable) continue;
    out[key] = v;
  }
  for (const [key, property] of Object.entries(properties))
    if (!(key in out) && property.default !== undefined) out[key] = structuredClone(property.default);
  for (const key of Object.keys(out)) out[key] = withSchemaDefaults(out[key], properties[key]!);
  return out;
}
