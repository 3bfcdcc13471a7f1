// The TokenReview cache (token-review-cache.ts): successes reused for a short TTL (never past the
// token's exp), refusals and errors never reused, one review per key at a time, a bounded size.
import assert from 'node:assert/strict';
import { Registry } from 'prom-client';
import {
  TokenReviewCache,
  type TokenReviewer,
  type TokenReviewStatus,
  tokenExpiry,
} from '../../../src/coordinator/token-review-cache.ts';
import { registerTokenReviewCounter, type TokenReviewCounter } from '../../../src/coordinator/token-review-metrics.ts';

const T0 = Date.parse('2026-11-30T10:00:00Z');
const ACCEPTED: TokenReviewStatus = { authenticated: true, user: { username: 'system:serviceaccount:ai:default' } };

/** A reviewer that answers `answer` and counts its calls by token and audiences. */
function countingReviewer(answer: (token: string) => Promise<TokenReviewStatus | undefined> = async () => ACCEPTED) {
  const calls: Array<{ token: string; audiences: string[] | undefined }> = [];
  const review: TokenReviewer = (token, audiences) => {
    calls.push({ token, audiences });
    return answer(token);
  };
  return { calls, review };
}

/** A JWT-shaped token whose payload says `exp` (seconds); the signature is never looked at. */
function jwt(payload: Record<string, unknown>): string {
  return `eyJhbGciOiJSUzI1NiJ9.${Buffer.from(JSON.stringify(payload)).toString('base64url')}.c2lnbmF0dXJl`;
}

function clock(start = T0) {
  let now = start;
  return { now: () => now, advance: (ms: number) => (now += ms) };
}

describe('TokenReview cache', () => {
  it('answers a second review of the same token within the TTL from the cache (one TokenReview)', async () => {
    const { calls, review } = countingReviewer();
    const cache = new TokenReviewCache(review, { now: clock().now });
    assert.equal(await cache.review('token-a', ['attestor']), ACCEPTED);
    assert.equal(await cache.review('token-a', ['attestor']), ACCEPTED);
    assert.equal(calls.length, 1);
    assert.equal(cache.size, 1);
  });

  it('reviews again once the TTL has passed (default 10 s)', async () => {
    const { calls, review } = countingReviewer();
    const c = clock();
    const cache = new TokenReviewCache(review, { now: c.now });
    await cache.review('token-a', ['attestor']);
    c.advance(9_999);
    await cache.review('token-a', ['attestor']);
    assert.equal(calls.length, 1, 'still cached 1 ms before the TTL');
    c.advance(1);
    await cache.review('token-a', ['attestor']);
    assert.equal(calls.length, 2, 'reviewed again at the TTL');
  });

  it("keeps a success no longer than the token's own exp, and never longer than the TTL for a later exp", async () => {
    const { calls, review } = countingReviewer();
    const c = clock();
    const cache = new TokenReviewCache(review, { ttlMs: 10_000, now: c.now });
    const shortLived = jwt({ exp: (T0 + 3_000) / 1000, sub: 'system:serviceaccount:ai:default' });
    const longLived = jwt({ exp: (T0 + 3_600_000) / 1000 });
    await cache.review(shortLived, undefined);
    await cache.review(longLived, undefined);
    c.advance(2_999);
    await cache.review(shortLived, undefined);
    assert.equal(calls.length, 2);
    c.advance(1);
    await cache.review(shortLived, undefined);
    assert.equal(calls.length, 3, 'reviewed again at its exp, before the TTL');
    c.advance(7_000);
    await cache.review(longLived, undefined);
    assert.equal(calls.length, 4, 'a later exp does not lengthen the TTL');
  });

  it('does not keep a success for a token whose exp has already passed', async () => {
    const { calls, review } = countingReviewer();
    const cache = new TokenReviewCache(review, { now: clock().now });
    const expired = jwt({ exp: (T0 - 1_000) / 1000 });
    await cache.review(expired, undefined);
    await cache.review(expired, undefined);
    assert.equal(calls.length, 2);
    assert.equal(cache.size, 0);
  });

  it('reads exp only from a JWT-shaped token with a numeric exp', () => {
    assert.equal(tokenExpiry(jwt({ exp: 1_700_000_000 })), 1_700_000_000_000);
    assert.equal(tokenExpiry(jwt({ exp: '1700000000' })), undefined);
    assert.equal(tokenExpiry(jwt({ sub: 'x' })), undefined);
    assert.equal(tokenExpiry('opaque-token'), undefined);
    assert.equal(tokenExpiry('a.not-base64-json.c'), undefined);
    assert.equal(tokenExpiry(`a.${Buffer.from('null').toString('base64url')}.c`), undefined);
  });

  it('never keeps a refusal: a token the API server did not accept, or accepted without a username, is reviewed every time', async () => {
    const answers: Array<TokenReviewStatus | undefined> = [
      { authenticated: false, error: 'token audiences do not match' },
      { authenticated: true, user: {} },
      undefined,
      ACCEPTED,
    ];
    const { calls, review } = countingReviewer(async () => answers[calls.length - 1]);
    const cache = new TokenReviewCache(review, { now: clock().now });
    assert.equal((await cache.review('token-a', ['attestor']))?.authenticated, false);
    assert.equal((await cache.review('token-a', ['attestor']))?.user?.username, undefined);
    assert.equal(await cache.review('token-a', ['attestor']), undefined);
    assert.equal(await cache.review('token-a', ['attestor']), ACCEPTED);
    assert.equal(calls.length, 4);
    assert.equal(cache.size, 1, 'only the success is kept');
  });

  it('never keeps an error: a review that throws throws, and the next one asks the API server again', async () => {
    let fail = true;
    const { calls, review } = countingReviewer(async () => {
      if (fail) throw new Error('HTTP-Code: 429');
      return ACCEPTED;
    });
    const cache = new TokenReviewCache(review, { now: clock().now });
    await assert.rejects(cache.review('token-a', ['attestor']), /429/);
    await assert.rejects(cache.review('token-a', ['attestor']), /429/);
    fail = false;
    assert.equal(await cache.review('token-a', ['attestor']), ACCEPTED);
    assert.equal(calls.length, 3);
  });

  it('shares one review among concurrent callers of the same key (single flight), but not its failure with later callers', async () => {
    const pending: Array<{ resolve: (s: TokenReviewStatus) => void; reject: (e: Error) => void }> = [];
    const { calls, review } = countingReviewer(
      () => new Promise<TokenReviewStatus>((resolve, reject) => pending.push({ resolve, reject })),
    );
    const cache = new TokenReviewCache(review, { now: clock().now });
    const first = [cache.review('token-a', ['attestor']), cache.review('token-a', ['attestor'])];
    assert.equal(calls.length, 1);
    pending[0]!.reject(new Error('connection refused'));
    for (const p of first) await assert.rejects(p, /connection refused/);

    const second = [cache.review('token-a', ['attestor']), cache.review('token-a', ['attestor'])];
    assert.equal(calls.length, 2, 'the failed review was not handed to a later caller');
    pending[1]!.resolve(ACCEPTED);
    assert.deepEqual(await Promise.all(second), [ACCEPTED, ACCEPTED]);
    assert.equal(await cache.review('token-a', ['attestor']), ACCEPTED);
    assert.equal(calls.length, 2);
  });

  it('does not keep a success whose TTL ran out while its review was under way', async () => {
    const c = clock();
    const { calls, review } = countingReviewer(async () => {
      c.advance(10_000);
      return ACCEPTED;
    });
    const cache = new TokenReviewCache(review, { now: c.now });
    await cache.review('token-a', undefined);
    assert.equal(cache.size, 0);
    await cache.review('token-a', undefined);
    assert.equal(calls.length, 2);
  });

  it('holds at most maxEntries successes, dropping the oldest first', async () => {
    const { calls, review } = countingReviewer();
    const cache = new TokenReviewCache(review, { maxEntries: 2, now: clock().now });
    for (const token of ['token-1', 'token-2', 'token-3']) await cache.review(token, undefined);
    assert.equal(cache.size, 2);
    await cache.review('token-3', undefined);
    await cache.review('token-2', undefined);
    assert.equal(calls.length, 3, 'the two newest are held');
    await cache.review('token-1', undefined);
    assert.equal(calls.length, 4, 'the oldest was dropped');
    assert.equal(cache.size, 2);
  });

  it('keys by the token and the audiences: another audience is another review', async () => {
    const { calls, review } = countingReviewer();
    const cache = new TokenReviewCache(review, { now: clock().now });
    await cache.review('token-a', ['attestor']);
    await cache.review('token-a', ['attestor-workload']);
    await cache.review('token-a', undefined);
    await cache.review('token-b', ['attestor']);
    assert.deepEqual(
      calls.map((c) => [c.token, c.audiences]),
      [
        ['token-a', ['attestor']],
        ['token-a', ['attestor-workload']],
        ['token-a', undefined],
        ['token-b', ['attestor']],
      ],
    );
    await cache.review('token-a', ['attestor-workload']);
    assert.equal(calls.length, 4);
  });

  it('keeps nothing with a TTL of 0', async () => {
    const { calls, review } = countingReviewer();
    const cache = new TokenReviewCache(review, { ttlMs: 0, now: clock().now });
    await cache.review('token-a', undefined);
    await cache.review('token-a', undefined);
    assert.equal(calls.length, 2);
  });
});

describe('TokenReview cache: attestor_token_reviews_total', () => {
  /** The counter's samples as {"audience outcome": value}. */
  async function counts(counter: TokenReviewCounter): Promise<Record<string, number>> {
    return Object.fromEntries(
      (await counter.get()).values.map((v) => [`${v.labels.audience} ${v.labels.outcome}`, v.value]),
    );
  }

  it('counts a success the API server gave as reviewed, and its reuse within the TTL as cached', async () => {
    const counter = registerTokenReviewCounter(new Registry());
    const { calls, review } = countingReviewer();
    const cache = new TokenReviewCache(review, { now: clock().now, counter });
    await cache.review('token-a', ['attestor']);
    await cache.review('token-a', ['attestor']);
    await cache.review('token-a', ['attestor']);
    assert.equal(calls.length, 1);
    assert.deepEqual(await counts(counter), { 'attestor reviewed': 1, 'attestor cached': 2 });
  });

  it('counts a token the API server did not accept (or accepted without a username) as refused, every time', async () => {
    const counter = registerTokenReviewCounter(new Registry());
    const answers: Array<TokenReviewStatus | undefined> = [
      { authenticated: false, error: 'token audiences do not match' },
      { authenticated: true, user: {} },
      undefined,
    ];
    const { calls, review } = countingReviewer(async () => answers[calls.length - 1]);
    const cache = new TokenReviewCache(review, { now: clock().now, counter });
    for (let i = 0; i < 3; i++) await cache.review('token-a', ['attestor-workload']);
    assert.deepEqual(await counts(counter), { 'attestor-workload refused': 3 });
  });

  it('counts a review that throws as error, and its caller sharing it as cached (one TokenReview)', async () => {
    const counter = registerTokenReviewCounter(new Registry());
    const pending: Array<(e: Error) => void> = [];
    const { calls, review } = countingReviewer(
      () => new Promise<TokenReviewStatus>((_, reject) => pending.push(reject)),
    );
    const cache = new TokenReviewCache(review, { now: clock().now, counter });
    const both = [cache.review('token-a', ['attestor']), cache.review('token-a', ['attestor'])];
    pending[0]!(new Error('HTTP-Code: 429'));
    for (const p of both) await assert.rejects(p, /429/);
    assert.equal(calls.length, 1);
    assert.deepEqual(await counts(counter), { 'attestor error': 1, 'attestor cached': 1 });
  });

  it('labels by the audiences the authenticator requires (joined by commas; empty for none), never by the token', async () => {
    const registry = new Registry();
    const counter = registerTokenReviewCounter(registry);
    const { review } = countingReviewer();
    const cache = new TokenReviewCache(review, { now: clock().now, counter });
    await cache.review('token-a', ['attestor', 'attestor-peer']);
    await cache.review('token-b', undefined);
    assert.deepEqual(await counts(counter), { 'attestor,attestor-peer reviewed': 1, ' reviewed': 1 });
    const text = await registry.metrics();
    assert.doesNotMatch(text, /token-[ab]/);
    assert.match(text, /attestor_token_reviews_total\{audience="attestor,attestor-peer",outcome="reviewed"\} 1/);
  });

  it('counts nothing without a counter (existing callers)', async () => {
    const registry = new Registry();
    registerTokenReviewCounter(registry);
    const cache = new TokenReviewCache(countingReviewer().review, { now: clock().now });
    await cache.review('token-a', ['attestor']);
    assert.doesNotMatch(await registry.metrics(), /attestor_token_reviews_total\{/);
  });
});
