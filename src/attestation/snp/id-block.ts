/**
 * The ID block a VM may be launched with: a structure signed by an ID key (itself optionally
 * signed by an author key) that names the expected measurement, FAMILY_ID, IMAGE_ID, GUEST_SVN and
 * policy. The firmware checked the signatures at launch and reports the keys' SHA-384 digests, so
 * trusting the ID block means trusting one of those digests (go-sev-guest validateKeys): the ID
 * key directly, or an author key that signed it (AUTHOR_KEY_EN set). FAMILY_ID, IMAGE_ID and
 * GUEST_SVN are whatever the ID key's holder chose.
 */
import type { SnpIdBlockRules } from '../reference-values.ts';
import { type Reason, reason } from '../verdict.ts';
import type { SnpClaims } from './claims.ts';

const lower = (xs: readonly string[] | undefined): string[] | undefined => xs?.map((x) => x.toLowerCase());

/** Reasons why the report's ID block does not meet the rules; no rules: nothing checked. */
export function idBlockReasons(claims: SnpClaims, rules: SnpIdBlockRules | undefined): Reason[] {
  if (rules === undefined) return [];
  const out: Reason[] = [];
  const idKeys = lower(rules.idKeyDigests);
  const authorKeys = lower(rules.authorKeyDigests);
  if (idKeys !== undefined || authorKeys !== undefined) {
    const byAuthor = claims.authorKeyEnabled && (authorKeys ?? []).includes(claims.authorKeyDigest);
    const byId = (idKeys ?? []).includes(claims.idKeyDigest);
    if (!byAuthor && !byId) {
      const author = claims.authorKeyEnabled
        ? `AUTHOR_KEY_DIGEST ${claims.authorKeyDigest}`
        : 'no author key (AUTHOR_KEY_EN 0)';
      out.push(
        reason(
          'snp.id-block.key',
          `ID block not signed by a trusted key: ID_KEY_DIGEST ${claims.idKeyDigest}, ${author}`,
        ),
      );
    }
  }
  const families = lower(rules.familyIds);
  if (families !== undefined && !families.includes(claims.familyId))
    out.push(
      reason('snp.id-block.family-id', `FAMILY_ID ${claims.familyId} is not one of the ${families.length} allowed`),
    );
  const images = lower(rules.imageIds);
  if (images !== undefined && !images.includes(claims.imageId))
    out.push(reason('snp.id-block.image-id', `IMAGE_ID ${claims.imageId} is not one of the ${images.length} allowed`));
  if (rules.minimumGuestSVN !== undefined && claims.guestSvn < rules.minimumGuestSVN) {
    out.push(
      reason('snp.id-block.guest-svn', `GUEST_SVN ${claims.guestSvn} is below the minimum ${rules.minimumGuestSVN}`),
    );
  }
  return out;
}
