import assert from 'node:assert/strict';
import {
  decodeTcb,
  encodeTcb,
  formatTcb,
  tcbAbove,
  tcbClaims,
  tcbShortfalls,
} from '../../../../src/attestation/snp/tcb.ts';

describe('snp/tcb', () => {
  it('decodes the Milan/Genoa layout: BL, TEE, 4 reserved, SNP, UCODE from the low byte up', () => {
    // go-sev-guest's milan test report: bl=2 tee=0 snp=5 ucode=68 (0x44).
    assert.deepEqual(decodeTcb(0x4405_0000_0000_0002n, 'Milan'), { bootloader: 2, tee: 0, snp: 5, microcode: 68 });
    assert.deepEqual(decodeTcb(0x4805_0000_0000_0302n, 'Genoa'), { bootloader: 2, tee: 3, snp: 5, microcode: 72 });
  });

  it('decodes the Turin layout: FMC, BL, TEE, SNP, 3 reserved, UCODE', () => {
    assert.deepEqual(decodeTcb(0x4900_0000_0403_0201n, 'Turin'), {
      fmc: 1,
      bootloader: 2,
      tee: 3,
      snp: 4,
      microcode: 73,
    });
  });

  it('uses the Milan/Genoa layout when the product is unknown', () => {
    assert.deepEqual(decodeTcb(0x4405_0000_0000_0002n, null), { bootloader: 2, tee: 0, snp: 5, microcode: 68 });
  });

  it('encodes back to the same raw value, with the reserved SPLs in the reserved bytes', () => {
    for (const product of ['Milan', 'Genoa', 'Turin'] as const) {
      for (const raw of [0n, 0x4405_0000_0000_0002n, 0xff7f_0000_0000_7f7fn]) {
        const tcb = decodeTcb(raw, product);
        const back = encodeTcb(tcb, product);
        assert.deepEqual(decodeTcb(back, product), tcb, `${product} ${raw.toString(16)}`);
      }
    }
    assert.equal(
      encodeTcb({ bootloader: 2, tee: 0, snp: 5, microcode: 68 }, 'Milan', [1, 2, 3, 4]),
      0x4405_0403_0201_0002n,
    );
    assert.equal(
      encodeTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 73 }, 'Turin', [5, 6, 7]),
      0x4907_0605_0403_0201n,
    );
  });

  it('renders claims with the raw value as 16 hex digits', () => {
    assert.deepEqual(tcbClaims(0x4405_0000_0000_0002n, 'Milan'), {
      bootloader: 2,
      tee: 0,
      snp: 5,
      microcode: 68,
      raw: '4405000000000002',
    });
    assert.equal(
      formatTcb({ fmc: 1, bootloader: 2, tee: 3, snp: 4, microcode: 73 }),
      'fmc=1 bl=2 tee=3 snp=4 ucode=73',
    );
  });

  it('lists each component below the minimum', () => {
    const have = { bootloader: 3, tee: 0, snp: 8, microcode: 115 };
    assert.deepEqual(tcbShortfalls(have, have), []);
    assert.deepEqual(tcbShortfalls(have, { bootloader: 4, tee: 1, snp: 8, microcode: 200 }), [
      'bootloader 3 < 4',
      'tee 0 < 1',
      'microcode 115 < 200',
    ]);
    assert.deepEqual(tcbShortfalls({ ...have, fmc: 1 }, { ...have, fmc: 2 }), ['fmc 1 < 2']);
    // A component above the minimum does not make up for another below it.
    assert.deepEqual(tcbShortfalls({ bootloader: 9, tee: 9, snp: 1, microcode: 255 }, have), ['snp 1 < 8']);
  });

  it('lists each byte of one raw TCB above another, reserved bytes included, named by the product layout', () => {
    const base = 0x4405_0000_0000_0002n;
    assert.deepEqual(tcbAbove(base, base, 'Milan'), []);
    assert.deepEqual(tcbAbove(base, 0x4406_0000_0000_0002n, 'Milan'), []);
    assert.deepEqual(tcbAbove(0x4506_0000_0000_0002n, base, 'Milan'), ['snp 6 > 5', 'microcode 69 > 68']);
    // A higher microcode does not make up for a lower SNP SPL: each byte on its own (go-sev-guest TCBPartsLE).
    assert.deepEqual(tcbAbove(0x0006_0000_0000_0002n, 0xff05_0000_0000_0002n, 'Milan'), ['snp 6 > 5']);
    assert.deepEqual(tcbAbove(0x4405_0000_0100_0002n, base, 'Milan'), ['reserved byte 3 1 > 0']);
    assert.deepEqual(tcbAbove(0x4900_0000_0403_0201n, 0x4900_0000_0403_0200n, 'Turin'), ['fmc 1 > 0']);
  });
});
