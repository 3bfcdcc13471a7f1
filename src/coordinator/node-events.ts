/**
 * Events the Coordinator records about a node, rate-limited per node: an agent that submits
 * evidence in a loop gets a few Events and then one per interval, so it cannot turn the
 * Coordinator into a writer of Events for the API server. The verdict itself is in the
 * NodeAttestation status, which every decision updates; what an Event adds is a history.
 */
import { KeyedRateLimiter, type RateLimit } from './rate-limiter.ts';

export type EventType = 'Normal' | 'Warning';

/** The object an Event is about (for the Coordinator: a node's NodeAttestation). */
export interface EventTarget {
  apiVersion: string;
  kind: string;
  name: string;
  /** The object's UID: `kubectl describe` lists only Events whose involvedObject.uid is the object's. */
  uid?: string;
}

/** Where Events go (the operator's EventRecorder is one). */
export interface EventSink {
  record(target: EventTarget, type: EventType, reason: string, message: string): Promise<void>;
}

export class NodeEvents {
  readonly #sink: EventSink;
  readonly #limiter: KeyedRateLimiter;
  readonly #suppressed: () => void;

  constructor(sink: EventSink, limit: RateLimit, onSuppressed: () => void = () => undefined) {
    this.#sink = sink;
    this.#limiter = new KeyedRateLimiter(limit);
    this.#suppressed = onSuppressed;
  }

  /** Records the Event unless the node spent its budget; returns whether it was recorded. */
  async record(
    node: string,
    target: EventTarget,
    type: EventType,
    reason: string,
    message: string,
    now: Date,
  ): Promise<boolean> {
    if (!this.#limiter.take(node, now).allowed) {
      this.#suppressed();
      return false;
    }
    await this.#sink.record(target, type, reason, message);
    return true;
  }
}
