/**
 * The errors of encrypted inference, one table for the secret service, the worker proxy and the
 * client proxy: each an OpenAI-style body (`{ error: { message, type, param, code } }`) with its
 * HTTP status, so that OpenAI clients show them as they show OpenAI's own. `code` is the stable
 * part: the client proxy keys on it (it exchanges a new secret on `unknown_secret`). Messages say
 * what was wrong, never a secret, a key or a prompt. Pure.
 */

export type OpenAiErrorType =
  | 'invalid_request_error'
  | 'authentication_error'
  | 'permission_error'
  | 'not_found_error'
  | 'rate_limit_error'
  | 'api_error';

export interface InferenceErrorInfo {
  readonly status: number;
  readonly type: OpenAiErrorType;
  /** Who answers with it: the secret service, the worker proxy, or the client proxy (to the application). */
  readonly from: 'secret-service' | 'worker-proxy' | 'client-proxy';
  /** The message's first sentence; a detail may follow. */
  readonly message: string;
}

export const INFERENCE_ERRORS = {
  // The worker proxy's refusals of a request: the model server never sees it.
  not_encrypted: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: 'The request is not encrypted: send it through attestor proxy or the attestor/client API.',
  },
  malformed_encryption: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: 'The encryption envelope of the request is malformed.',
  },
  unsupported_version: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: 'The encryption envelope has a version this worker does not speak.',
  },
  unknown_secret: {
    status: 401,
    type: 'authentication_error',
    from: 'worker-proxy',
    message: 'The secret ID is unknown or expired: exchange a new secret with the secret service.',
  },
  tampered: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message:
      'The request does not decrypt: it was changed on the way, or belongs to another secret, request or position.',
  },
  replayed: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: 'The request was already received (replay).',
  },
  stale_timestamp: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: "The request's timestamp is outside the accepted clock skew.",
  },
  downgrade: {
    status: 400,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: 'Protected fields arrived in plaintext beside the encrypted ones.',
  },
  endpoint_not_allowed: {
    status: 404,
    type: 'not_found_error',
    from: 'worker-proxy',
    message:
      'This endpoint is not served: only /v1/chat/completions, /v1/completions, /v1/embeddings and /v1/models are.',
  },
  request_too_large: {
    status: 413,
    type: 'invalid_request_error',
    from: 'worker-proxy',
    message: 'The request body is larger than the limit.',
  },
  secret_store_unavailable: {
    status: 503,
    type: 'api_error',
    from: 'worker-proxy',
    message: 'The worker cannot reach the secret store right now.',
  },
  upstream_unavailable: {
    status: 502,
    type: 'api_error',
    from: 'worker-proxy',
    message: 'The model server did not answer.',
  },
  // The secret service's refusals of a key exchange.
  malformed_exchange: {
    status: 400,
    type: 'invalid_request_error',
    from: 'secret-service',
    message: 'The key-exchange request is malformed.',
  },
  unauthenticated: {
    status: 401,
    type: 'authentication_error',
    from: 'secret-service',
    message: 'The key exchange needs an API key that the secret service accepts.',
  },
  rate_limited: {
    status: 429,
    type: 'rate_limit_error',
    from: 'secret-service',
    message: 'Too many key exchanges from this address: try again later.',
  },
  secret_capacity: {
    status: 503,
    type: 'api_error',
    from: 'secret-service',
    message: 'The secret service holds as many live secrets as it may: try again later.',
  },
  // The secret service's refusals of a worker asking for a secret, and its own trouble.
  secret_not_found: {
    status: 404,
    type: 'not_found_error',
    from: 'secret-service',
    message: 'The secret service holds no secret of this ID (unknown, or expired).',
  },
  release_refused: {
    status: 403,
    type: 'permission_error',
    from: 'secret-service',
    message:
      'The secret is released only to a worker whose current certificate names the worker role and chains to the mesh CA the secret was exchanged under.',
  },
  service_uncertified: {
    status: 503,
    type: 'api_error',
    from: 'secret-service',
    message: "The secret service's workload certificate was withdrawn: it answers nothing until it is certified again.",
  },
  storage_key_unavailable: {
    status: 503,
    type: 'api_error',
    from: 'secret-service',
    message:
      'This secret service replica does not hold the storage key of its mesh CA yet (no certified replica has handed it over): it answers nothing until it does.',
  },
  store_unavailable: {
    status: 503,
    type: 'api_error',
    from: 'secret-service',
    message: 'The secret service cannot reach its secret store right now.',
  },
  // The client proxy's refusals of an answer, and of the chain behind it, to the application.
  response_tampered: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message: 'The answer does not decrypt: it was changed on the way, or belongs to another request or position.',
  },
  response_downgrade: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message: 'The answer carries protected fields in plaintext.',
  },
  stream_truncated: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message: 'The streamed answer ended without its authenticated final record.',
  },
  coordinator_unverified: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message: 'The Coordinator does not pass verification against the pinned Manifest.',
  },
  worker_unverified: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message:
      "The worker's certificate does not chain to the attested mesh CA with the worker role of a policy in the pinned Manifest: nothing was sent.",
  },
  worker_unavailable: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message: 'The worker proxy did not answer.',
  },
  exchange_failed: {
    status: 502,
    type: 'api_error',
    from: 'client-proxy',
    message: 'The key exchange with the secret service failed.',
  },
} as const satisfies Record<string, InferenceErrorInfo>;

export type InferenceErrorCode = keyof typeof INFERENCE_ERRORS;

export interface OpenAiErrorBody {
  error: { message: string; type: OpenAiErrorType; param: string | null; code: InferenceErrorCode };
}

/** A refusal as data: the code and what exactly was wrong. */
export interface InferenceRefusal {
  code: InferenceErrorCode;
  detail?: string;
}

/** The status and body to answer with for a refusal. */
export function inferenceErrorResponse(refusal: InferenceRefusal): { status: number; body: OpenAiErrorBody } {
  const info: InferenceErrorInfo = INFERENCE_ERRORS[refusal.code];
  const message = refusal.detail ? `${info.message} ${refusal.detail}` : info.message;
  return { status: info.status, body: { error: { message, type: info.type, param: null, code: refusal.code } } };
}

/** The code of an error body from this table; undefined for anything else (an upstream error, a gateway's). */
export function inferenceErrorCode(body: unknown): InferenceErrorCode | undefined {
  if (typeof body !== 'object' || body === null) return undefined;
  const error = (body as { error?: unknown }).error;
  if (typeof error !== 'object' || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && Object.hasOwn(INFERENCE_ERRORS, code) ? (code as InferenceErrorCode) : undefined;
}
