/** How a lookup that found nothing usable is told in the notes the Coordinator logs. */
import type { Lookup } from './store.ts';

export function describeMiss(lookup: Exclude<Lookup<unknown>, { status: 'found' }>): string {
  return lookup.status === 'missing' ? lookup.reason : lookup.error;
}

/** Notes of a found item: why it is stale, or why it was not stored. */
export function foundNotes(lookup: Extract<Lookup<unknown>, { status: 'found' }>): string[] {
  return [lookup.stale, lookup.warning].filter((n): n is string => n !== undefined);
}
