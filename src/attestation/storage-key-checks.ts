/**
 * Every `check` a secret-service replica's refusal to hand over, or to take, the shared storage
 * key can carry (src/secrets/key-share.ts), with its kind (check-registry.ts): the other
 * replica's certificate must chain to the current mesh CA, be valid now, be an end-entity
 * certificate and name the `secret-service` role, and its record must carry its own signature.
 */
import type { CheckRegistry } from './check-registry.ts';

export const STORAGE_KEY_CHECKS = {
  'storage-key.certificate': {
    kind: 'authenticity',
    about: 'the other replica sent no certificate, or one that does not parse',
  },
  'storage-key.chain': {
    kind: 'authenticity',
    about: "the other replica's certificate does not chain to the current mesh CA",
  },
  'storage-key.validity': {
    kind: 'authenticity',
    about: "the other replica's certificate (or the mesh CA) is not valid now",
  },
  'storage-key.identity': {
    kind: 'authenticity',
    about: "the other replica's certificate is a CA certificate, or has no readable workload identity extension",
  },
  'storage-key.role': {
    kind: 'comparison',
    about: "the other replica's certificate names another role than secret-service",
  },
  'storage-key.signature': {
    kind: 'binding',
    about:
      'the request or answer is malformed, or not signed by the key of the certificate it carries, or bound to another request',
  },
} as const satisfies CheckRegistry;

export type StorageKeyCheck = keyof typeof STORAGE_KEY_CHECKS;
