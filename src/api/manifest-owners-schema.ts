/** The CRD schema of spec.owners: the keys that may approve a successor (manifest-owners.ts). */
import type { JSONSchemaProps } from './schema.ts';

export const MAX_OWNERS = 16;

export const ownersSchema: JSONSchemaProps = {
  type: 'array',
  maxItems: MAX_OWNERS,
  'x-kubernetes-list-type': 'atomic',
  description:
    "Public keys of the owners who may replace this Manifest: a successor becomes active only with a detached JWS by one of them over its canonical hash, naming this Manifest's hash as replaced, in its annotation attestor.dev/signature (attestor manifest sign). Absent (the default): any valid newer Manifest replaces this one. Empty: nothing may replace it (immutable). A Manifest that lists owners cannot be edited in place.",
  items: {
    type: 'object',
    required: ['kty', 'crv', 'x'],
    description:
      'A public JWK (RFC 7517): EC P-256 (ES256), EC P-384 (ES384) or Ed25519 (EdDSA), with an optional name.',
    properties: {
      name: {
        type: 'string',
        minLength: 1,
        maxLength: 63,
        description: 'Who holds the key, shown in status and events.',
      },
      kty: { type: 'string', enum: ['EC', 'OKP'], description: 'EC for P-256 and P-384, OKP for Ed25519.' },
      crv: { type: 'string', enum: ['P-256', 'P-384', 'Ed25519'] },
      x: {
        type: 'string',
        minLength: 43,
        maxLength: 64,
        pattern: '^[A-Za-z0-9_-]+$',
        description: 'base64url x coordinate (Ed25519: the public key).',
      },
      y: {
        type: 'string',
        minLength: 43,
        maxLength: 64,
        pattern: '^[A-Za-z0-9_-]+$',
        description: 'base64url y coordinate (EC keys only).',
      },
    },
    'x-kubernetes-validations': [
      {
        rule: "self.crv == 'Ed25519' ? (self.kty == 'OKP' && !has(self.y) && size(self.x) == 43) : (self.kty == 'EC' && has(self.y) && size(self.x) == (self.crv == 'P-256' ? 43 : 64) && size(self.y) == size(self.x))",
        message:
          'Ed25519 keys are kty OKP with a 43-character x; P-256 and P-384 keys are kty EC with x and y of 43 and 64 characters',
      },
    ],
  },
};

/** On spec: once a Manifest lists owners, only a signed successor may change what is active. */
export const ownedSpecImmutable = {
  rule: '!has(oldSelf.owners) || self == oldSelf',
  message: 'a Manifest that lists owners cannot be changed: apply a successor Manifest signed by one of them',
};
