/**
 * `attestor_token_reviews_total{audience,outcome}`: how the authenticators in front of the
 * Coordinator (agents, `attestor init`, peer recovery) and the agent's countersigner answered a
 * bearer token (token-review-cache.ts). `reviewed`, `refused` and `error` are TokenReviews sent to
 * the API server (accepted, not accepted, no answer); `cached` are answers that sent none (a
 * success kept for the TTL, or a review of the same token already under way). The audience is the
 * one the authenticator requires (configuration, never the caller's): the label stays a handful of
 * values; no token, username or pod is ever a label.
 */
import { Counter, type Registry } from 'prom-client';

export type TokenReviewOutcome = 'cached' | 'reviewed' | 'refused' | 'error';

export type TokenReviewCounter = Counter<'audience' | 'outcome'>;

export function registerTokenReviewCounter(registry: Registry): TokenReviewCounter {
  return new Counter({
    name: 'attestor_token_reviews_total',
    help: 'Bearer tokens answered by audience and outcome: reviewed (the API server accepted it), refused (it did not), error (no answer), cached (answered without a TokenReview: a success reused within the TTL or a review already under way)',
    labelNames: ['audience', 'outcome'],
    registers: [registry],
  });
}
