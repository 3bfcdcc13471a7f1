import assert from 'node:assert/strict';
import { KeyedSerial } from '../../../src/coordinator/serial.ts';

describe('per-node serialisation', () => {
  it("runs one key's work one piece at a time, in order, and other keys' work alongside", async () => {
    const serial = new KeyedSerial();
    const log: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    const first = serial.run('a', async () => {
      log.push('a1 start');
      await gate;
      log.push('a1 end');
    });
    const second = serial.run('a', async () => {
      log.push('a2');
    });
    await serial.run('b', async () => {
      log.push('b1');
    });
    assert.deepEqual(log, ['a1 start', 'b1'], 'b ran while a1 waited; a2 did not');
    release();
    await Promise.all([first, second]);
    assert.deepEqual(log, ['a1 start', 'b1', 'a1 end', 'a2']);
  });

  it('goes on after a failure, and hands the failure to its own caller only', async () => {
    const serial = new KeyedSerial();
    const failed = serial.run('a', async () => {
      throw new Error('broken');
    });
    const next = serial.run('a', async () => 'next');
    await assert.rejects(failed, /broken/);
    assert.equal(await next, 'next');
  });
});
