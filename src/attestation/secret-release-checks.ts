/**
 * Every `check` the secret service's refusal to release a secret to a worker can carry
 * (src/secrets/release-decision.ts), with its kind (check-registry.ts): the worker's certificate
 * must chain to the mesh CA under which the secret was exchanged, be valid now, be an end-entity
 * certificate and name the `worker` role; the secret must not have expired.
 */
import type { CheckRegistry } from './check-registry.ts';

export const SECRET_RELEASE_CHECKS = {
  'secret-release.certificate': {
    kind: 'authenticity',
    about: 'the worker presented no client certificate, or one that does not parse',
  },
  'secret-release.chain': {
    kind: 'authenticity',
    about: "the worker's certificate does not chain to the mesh CA under which the secret was exchanged",
  },
  'secret-release.validity': {
    kind: 'authenticity',
    about: "the worker's certificate (or the mesh CA) is not valid now",
  },
  'secret-release.identity': {
    kind: 'authenticity',
    about: "the worker's certificate is a CA certificate, or has no readable workload identity extension",
  },
  'secret-release.role': {
    kind: 'comparison',
    about: "the worker's certificate names another role than worker",
  },
  'secret-release.expired': {
    kind: 'binding',
    about: 'the secret has expired',
  },
} as const satisfies CheckRegistry;

export type SecretReleaseCheck = keyof typeof SECRET_RELEASE_CHECKS;
