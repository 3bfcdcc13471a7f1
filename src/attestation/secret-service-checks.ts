/**
 * Every `check` a client's refusal of the secret service's key-exchange answer can carry
 * (src/protocol/inference/key-exchange.ts), with its kind (check-registry.ts): the answer must be
 * signed over this client's key and `enc` by a workload certificate from the attested mesh CA that
 * names the `secret-service` role of a policy in the pinned Manifest.
 */
import type { CheckRegistry } from './check-registry.ts';

export const SECRET_SERVICE_CHECKS = {
  'secret-service.response': {
    kind: 'authenticity',
    about: "the secret service's answer is not a key-exchange response (fields, base64, sizes, certificates)",
  },
  'secret-service.chain': {
    kind: 'authenticity',
    about: "the secret service's certificate does not chain to the attested mesh CA, or is not valid now",
  },
  'secret-service.identity': {
    kind: 'authenticity',
    about: "the secret service's certificate has no readable workload identity extension, or no P-256 key",
  },
  'secret-service.role': {
    kind: 'comparison',
    about: "the secret service's certificate names another role than secret-service",
  },
  'secret-service.policy': {
    kind: 'comparison',
    about: "the policy hash in the secret service's certificate is not a secret-service policy of the pinned Manifest",
  },
  'secret-service.signature': {
    kind: 'binding',
    about:
      "the signature does not verify with the certificate's key over SHA-256(client public key ‖ enc): the answer is not for this exchange",
  },
  'secret-service.secret-id': {
    kind: 'binding',
    about: "the answer's secret ID is not the base64 of SHA-256 of this client's public key",
  },
  'secret-service.enc': {
    kind: 'authenticity',
    about: 'the encapsulated key does not decapsulate with the X-Wing private key of this client',
  },
} as const satisfies CheckRegistry;

export type SecretServiceCheck = keyof typeof SECRET_SERVICE_CHECKS;
