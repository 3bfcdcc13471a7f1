/**
 * What the API server stores for a value under a structural schema, so that a client can compute
 * a hash of it before applying it. As the API server does: null in a field that is not nullable is
 * dropped, and an absent field with a default gets the default, also inside defaults
 * (apiextensions' defaulting algorithm). Unlike the API server, which prunes fields its schema
 * does not know, they are refused here, as kubectl's strict field validation refuses them: a
 * misspelt field would otherwise vanish from the hash unnoticed. Types are checked; patterns,
 * limits and CEL rules are the API server's (a value it refuses has no stored form).
 */
import type { FieldProblem } from './manifest-validation.ts';
import type { JSONSchemaProps } from './schema.ts';

export function storedForm(
  value: unknown,
  schema: JSONSchemaProps,
  path: string,
): { value: unknown; problems: FieldProblem[] } {
  const problems: FieldProblem[] = [];
  return { value: walk(value, schema, path, problems), problems };
}

function walk(value: unknown, schema: JSONSchemaProps, path: string, problems: FieldProblem[]): unknown {
  if (value === null) {
    if (!schema.nullable) problems.push({ path, message: 'must not be null' });
    return value;
  }
  switch (schema.type) {
    case 'object':
      return object(value, schema, path, problems);
    case 'array':
      if (!Array.isArray(value)) return wrongType(value, 'a list', path, problems);
      return value.map((item, i) => (schema.items ? walk(item, schema.items, `${path}[${i}]`, problems) : item));
    case 'string':
      return typeof value === 'string' ? value : wrongType(value, 'a string', path, problems);
    case 'integer':
      return Number.isInteger(value) ? value : wrongType(value, 'an integer', path, problems);
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? value : wrongType(value, 'a number', path, problems);
    case 'boolean':
      return typeof value === 'boolean' ? value : wrongType(value, 'true or false', path, problems);
    default:
      return value;
  }
}

function object(value: unknown, schema: JSONSchemaProps, path: string, problems: FieldProblem[]): unknown {
  if (typeof value !== 'object' || Array.isArray(value) || value instanceof Date)
    return wrongType(value, 'an object', path, problems);
  const properties = schema.properties ?? {};
  const out: Record<string, unknown> = {};
  for (const [key, field] of Object.entries(value as Record<string, unknown>)) {
    const fieldPath = `${path}.${key}`;
    const fieldSchema =
      properties[key] ?? (typeof schema.additionalProperties === 'object' ? schema.additionalProperties : undefined);
    if (!fieldSchema) {
      if (schema['x-kubernetes-preserve-unknown-fields'] || schema.additionalProperties === true) out[key] = field;
      else problems.push({ path: fieldPath, message: 'unknown field' });
      continue;
    }
    if (field === null && !fieldSchema.nullable) continue;
    out[key] = walk(field, fieldSchema, fieldPath, problems);
  }
  for (const [key, fieldSchema] of Object.entries(properties)) {
    if (key in out || fieldSchema.default === undefined) continue;
    out[key] = walk(structuredClone(fieldSchema.default), fieldSchema, `${path}.${key}`, problems);
  }
  return out;
}

function wrongType(value: unknown, expected: string, path: string, problems: FieldProblem[]): unknown {
  const got = value instanceof Date ? 'a timestamp' : Array.isArray(value) ? 'a list' : typeof value;
  problems.push({ path, message: `expected ${expected}, got ${got}` });
  return value;
}
