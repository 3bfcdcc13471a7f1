/**
 * `attestor/client`: encrypted inference for applications, without a separate process. Verify the
 * Coordinator (verifyCoordinator), then open an InferenceSession with the mesh CA and Manifest it
 * attested, or serve a local OpenAI-compatible endpoint with startClientProxy.
 */
export {
  type CoordinatorVerification,
  type VerifyCoordinatorOptions,
  verifyCoordinator,
} from '../client/verify-coordinator.ts';
export { type InferenceRefusal, inferenceErrorResponse } from '../protocol/inference/errors.ts';
export { type SecretServiceOptions, secretServiceExchange } from './secret-exchange.ts';
export { type ClientProxy, type ClientProxyOptions, startClientProxy } from './server.ts';
export {
  DEFAULT_RENEW_BEFORE_MS,
  InferenceSession,
  type InferenceSessionOptions,
  type SecretExchange,
  type SessionAnswer,
  type StreamItem,
  type Trust,
} from './session.ts';
