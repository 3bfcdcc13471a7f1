import assert from 'node:assert/strict';
import { pemCertificates } from '../../../../src/attestation/pem.ts';
import { INTEL_SGX_ROOT_CA_PEM } from '../../../../src/attestation/roots/intel.ts';
import { createTdxSimulator } from '../../../../src/attestation/sim/tdx.ts';
import { decodeTdAttributes } from '../../../../src/attestation/tdx/claims.ts';
import { configIdForPolicyHash, policyHashFromConfigId } from '../../../../src/attestation/tdx/config-id.ts';
import { parsePckExtension } from '../../../../src/attestation/tdx/pck.ts';
import { parseTdxQuote } from '../../../../src/attestation/tdx/quote.ts';
import { decodeIssuerChain, rawJsonMember } from '../../../../src/attestation/tdx/signed-json.ts';
import { parseTcbInfo } from '../../../../src/attestation/tdx/tcb-info.ts';
import { ParseError } from '../../../../src/attestation/verdict.ts';

function parseErrorCheck(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof ParseError, `threw ${(err as Error).name}`);
    return err.check;
  }
  assert.fail('did not throw');
}

describe('tdx parsers', () => {
  let quote: Uint8Array;
  let chainPem: string;
  before(async () => {
    const sim = await createTdxSimulator({
      fmspc: '00806f050000',
      pckTcbComponents: [7, 7, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9],
      pceSvn: 13,
    });
    quote = sim.quote({ version: 5, bodyType: 3 });
    chainPem = sim.pckChainPem;
  });

  describe('quote', () => {
    it('reads v5 body type and size, and rejects sizes that do not fit the type', () => {
      assert.equal(parseTdxQuote(quote).bodyType, 3);
      const wrongSize = Uint8Array.from(quote);
      new DataView(wrongSize.buffer).setUint32(50, 584, true);
      assert.equal(
        parseErrorCheck(() => parseTdxQuote(wrongSize)),
        'tdx.quote',
      );
      const sgxBody = Uint8Array.from(quote);
      new DataView(sgxBody.buffer).setUint16(48, 1, true);
      assert.equal(
        parseErrorCheck(() => parseTdxQuote(sgxBody)),
        'tdx.quote',
      );
    });

    it('refuses other versions, key types, TEE types and certification data types', () => {
      const with16 = (offset: number, v: number, bytes = quote): Uint8Array => {
        const q = Uint8Array.from(bytes);
        new DataView(q.buffer).setUint16(offset, v, true);
        return q;
      };
      assert.equal(
        parseErrorCheck(() => parseTdxQuote(with16(0, 3))),
        'tdx.quote.version',
      );
      assert.equal(
        parseErrorCheck(() => parseTdxQuote(with16(2, 3))),
        'tdx.quote.attestation-key-type',
      );
      assert.equal(
        parseErrorCheck(() => parseTdxQuote(with16(4, 0))),
        'tdx.quote.tee-type',
      );
      assert.equal(
        parseErrorCheck(() => parseTdxQuote(with16(48 + 6 + 648 + 4 + 128, 5))),
        'tdx.quote.certification-data',
      );
    });

    it('refuses every truncation inside the signed structure', () => {
      for (const n of [0, 1, 47, 48, 53, 54 + 647, 54 + 648 + 3, 54 + 648 + 4 + 133, quote.length - 1]) {
        assert.equal(
          parseErrorCheck(() => parseTdxQuote(quote.subarray(0, n))).startsWith('tdx.quote'),
          true,
          `length ${n}`,
        );
      }
    });
  });

  describe('PCK SGX extension', () => {
    it('reads FMSPC, PCE ID, the 16 TCB components, PCESVN, CPUSVN and SGX type', () => {
      const der = pemCertificates(chainPem, 'tdx.pck-chain', { strict: true })[0]!;
      const e = parsePckExtension(der);
      assert.equal(Buffer.from(e.fmspc).toString('hex'), '00806f050000');
      assert.equal(Buffer.from(e.pceId).toString('hex'), '0000');
      assert.deepEqual(e.tcbComponents, [7, 7, 2, 2, 3, 1, 0, 5, 0, 0, 0, 0, 0, 0, 0, 9]);
      assert.equal(e.pceSvn, 13);
      assert.equal(Buffer.from(e.cpuSvn).toString('hex'), '07070202030100050000000000000009');
      assert.equal(e.sgxType, 1);
    });

    it('refuses a certificate without the extension', () => {
      const root = pemCertificates(chainPem, 'tdx.pck-chain', { strict: true })[2]!;
      assert.equal(
        parseErrorCheck(() => parsePckExtension(root)),
        'tdx.pck-extension',
      );
      assert.equal(
        parseErrorCheck(() => parsePckExtension(new Uint8Array([0x30, 0x03, 0x02, 0x01]))),
        'tdx.pck-extension',
      );
    });
  });

  describe('PEM', () => {
    it('accepts LF and CRLF, trailing NULs, and URL-encoded issuer chains', () => {
      assert.equal(pemCertificates(chainPem, 'tdx.pck-chain', { strict: true }).length, 3);
      assert.equal(
        pemCertificates(chainPem.replace(/\n/g, '\r\n') + '\0\0', 'tdx.pck-chain', { strict: true }).length,
        3,
      );
      assert.equal(decodeIssuerChain(encodeURIComponent(chainPem), 'tdx.pck-chain').length, 3);
    });

    it('refuses stray whitespace, non-base64 and non-canonical base64', () => {
      const lines = chainPem.split('\n');
      assert.equal(
        parseErrorCheck(() => pemCertificates(' ' + chainPem, 'tdx.pck-chain', { strict: true })),
        'tdx.pck-chain',
      );
      assert.equal(
        parseErrorCheck(() =>
          pemCertificates(lines.map((l, i) => (i === 3 ? l + ' ' : l)).join('\n'), 'tdx.pck-chain', { strict: true }),
        ),
        'tdx.pck-chain',
      );
      // The Intel root's last base64 line ends in "qI=": "I" and "J" differ only in the two bits
      // the padding leaves unused, which base64 decoders silently accept.
      assert.match(INTEL_SGX_ROOT_CA_PEM, /qI=\n-----END/);
      assert.equal(pemCertificates(INTEL_SGX_ROOT_CA_PEM, 'tdx.pck-chain', { strict: true }).length, 1);
      assert.equal(Buffer.from('qI=', 'base64').equals(Buffer.from('qJ=', 'base64')), true);
      assert.equal(
        parseErrorCheck(() =>
          pemCertificates(INTEL_SGX_ROOT_CA_PEM.replace('qI=\n', 'qJ=\n'), 'tdx.pck-chain', { strict: true }),
        ),
        'tdx.pck-chain',
      );
      assert.equal(
        parseErrorCheck(() => pemCertificates('', 'tdx.pck-chain', { strict: true })),
        'tdx.pck-chain',
      );
    });
  });

  describe('signed JSON member', () => {
    it('returns the member text exactly as sent', () => {
      const text = '{ "tcbInfo" : {"a": [1, {"b": "}\\"]"}] } ,"signature":"ab"}';
      assert.equal(rawJsonMember(text, 'tcbInfo', 'tdx.collateral.tcb-info'), '{"a": [1, {"b": "}\\"]"}] }');
      assert.equal(rawJsonMember(text, 'signature', 'tdx.collateral.tcb-info'), '"ab"');
    });

    it('refuses duplicates, missing members and trailing data', () => {
      assert.equal(
        parseErrorCheck(() => rawJsonMember('{"a":1,"a":2}', 'a', 'tdx.collateral.tcb-info')),
        'tdx.collateral.tcb-info',
      );
      assert.equal(
        parseErrorCheck(() => rawJsonMember('{"a":1}', 'b', 'tdx.collateral.tcb-info')),
        'tdx.collateral.tcb-info',
      );
      assert.equal(
        parseErrorCheck(() => rawJsonMember('{"a":1} x', 'a', 'tdx.collateral.tcb-info')),
        'tdx.collateral.tcb-info',
      );
      assert.equal(
        parseErrorCheck(() => rawJsonMember('[1]', 'a', 'tdx.collateral.tcb-info')),
        'tdx.collateral.tcb-info',
      );
    });
  });

  describe('TCB info', () => {
    it('refuses another id, version, component count or status', () => {
      const base = {
        id: 'TDX',
        version: 3,
        issueDate: '2024-01-01T00:00:00Z',
        nextUpdate: '2024-02-01T00:00:00Z',
        fmspc: '50806f000000',
        pceId: '0000',
        tcbType: 0,
        tcbEvaluationDataNumber: 1,
      };
      const level = (n: number, status = 'UpToDate'): unknown => ({
        tcb: {
          sgxtcbcomponents: new Array(n).fill({ svn: 1 }),
          pcesvn: 1,
          tdxtcbcomponents: new Array(16).fill({ svn: 0 }),
        },
        tcbDate: '2024-01-01T00:00:00Z',
        tcbStatus: status,
      });
      assert.equal(parseTcbInfo({ ...base, tcbLevels: [level(16)] }).tcbLevels.length, 1);
      for (const bad of [
        { ...base, id: 'SGX', tcbLevels: [level(16)] },
        { ...base, version: 2, tcbLevels: [level(16)] },
        { ...base, tcbLevels: [level(15)] },
        { ...base, tcbLevels: [level(16, 'Great')] },
        { ...base, tcbLevels: [] },
        { ...base, issueDate: 'yesterday', tcbLevels: [level(16)] },
      ]) {
        assert.equal(
          parseErrorCheck(() => parseTcbInfo(bad)),
          'tdx.collateral.tcb-info',
        );
      }
    });
  });

  describe('conventions', () => {
    it('MRCONFIGID carries the policy SHA-256 followed by 16 zero bytes', () => {
      const hash = '5f'.repeat(32);
      const id = configIdForPolicyHash(hash.toUpperCase());
      assert.equal(id, hash + '0'.repeat(32));
      assert.equal(policyHashFromConfigId(id), hash);
      assert.equal(policyHashFromConfigId(hash + '01' + '0'.repeat(30)), undefined);
      assert.throws(() => configIdForPolicyHash('abc'), TypeError);
    });

    it('TD attributes: debug is bit 0, SEPT_VE_DISABLE 28, PKS 30, KL 31, PERFMON 63', () => {
      assert.deepEqual(decodeTdAttributes(Uint8Array.from([1, 0, 0, 0xd0, 0, 0, 0, 0x80])), {
        hex: '010000d000000080',
        debug: true,
        septVeDisable: true,
        migratable: false,
        pks: true,
        kl: true,
        perfmon: true,
      });
      assert.equal(decodeTdAttributes(new Uint8Array(8)).debug, false);
    });
  });
});
