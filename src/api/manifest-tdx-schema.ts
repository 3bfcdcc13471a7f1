/**
 * The schema of a Manifest's `spec.referenceValues.tdx[]` entry (Intel TDX): MRTD, RTMRs, MRSEAM,
 * the attribute masks, SVN minimums, and the opt-out from Intel's collateral
 * (src/attestation/tdx/appraise.ts applies them). Each description states the safe default.
 */
import { hexSchema } from './common.ts';
import { cvmRoleSchema } from './manifest-roles.ts';
import type { JSONSchemaProps } from './schema.ts';

export const tdxReferenceValuesSchema: JSONSchemaProps = {
  type: 'object',
  description: 'Reference values for one kind of Intel TDX trust domain.',
  required: ['mrTd'],
  properties: {
    name: { type: 'string', maxLength: 63, description: 'Label shown in verdicts.' },
    role: cvmRoleSchema,
    mrTd: {
      type: 'array',
      minItems: 1,
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed MRTD values; any one matches.',
      items: hexSchema(48, 'MRTD'),
    },
    rtmrs: {
      type: 'array',
      maxItems: 4,
      description: 'Expected RTMR0..RTMR3 in order; a null or empty entry is not checked.',
      items: {
        type: 'string',
        nullable: true,
        pattern: '^([0-9a-f]{96})?$',
        description: 'RTMR value (48 bytes as 96 lower-case hex characters), or empty/null to skip.',
      },
    },
    mrSeam: {
      type: 'array',
      maxItems: 64,
      'x-kubernetes-list-type': 'set',
      description: 'Allowed MRSEAM values (TDX module); empty means any Intel-signed module.',
      items: hexSchema(48, 'MRSEAM'),
    },
    xfam: hexSchema(
      8,
      "Expected XFAM, exactly; absent: any XFAM within the fixed bits every TD must meet (x87 and SSE set, no feature outside go-tdx-guest's XFAM mask)",
    ),
    tdAttributes: hexSchema(
      8,
      'Expected TDATTRIBUTES, exactly; absent: any within the fixed bits every TD must meet (only SEPT_VE_DISABLE, PKS and PERFMON may be set; DEBUG is always refused)',
    ),
    mrOwner: hexSchema(48, 'Expected MROWNER, exactly; absent: not checked'),
    mrOwnerConfig: hexSchema(48, 'Expected MROWNERCONFIG, exactly; absent: not checked'),
    minimumTeeTcbSvn: hexSchema(16, 'Minimum TEE_TCB_SVN, compared byte by byte'),
    minimumQeSvn: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      description:
        "Minimum ISVSVN of the quoting enclave (QE report signed by the PCK key). Absent: not checked beyond the QE identity's TCB status.",
    },
    minimumPceSvn: {
      type: 'integer',
      minimum: 0,
      maximum: 65535,
      description: "Minimum PCE SVN (the PCK certificate's TCB). Absent: not checked beyond the TCB info's TCB status.",
    },
    allowMissingCollateral: {
      type: 'boolean',
      description:
        "Accept quotes matching this entry without the whole of Intel's collateral (TCB info, QE identity, PCK CRL, root CA CRL): the quoting enclave's identity, the TCB status and revocation are then NOT evaluated. Reported in the Relaxed condition. Default false: a quote without complete collateral is refused (tdx.collateral.missing).",
    },
  },
};
