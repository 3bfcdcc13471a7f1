/**
 * Simulated NVIDIA RIMs: SWID documents shaped like NVIDIA's, with golden measurements per index,
 * signed like NVIDIA's (enveloped ecdsa-sha384 under the c14n 1.1 URI).
 */
import { createHash, type webcrypto } from 'node:crypto';
import { HASH_NS, SWID_NS, TCG_RIM_NS } from '../nvidia/rim.ts';
import { parseXml, signEnveloped } from '../nvidia/xmldsig.ts';
import { SIM_MEASUREMENT_BLOCKS } from './gpu-formats.ts';

type CryptoKey = webcrypto.CryptoKey;

/** RIM indices the simulated driver RIM covers; the VBIOS RIM covers other active ones. */
export const DRIVER_INDICES = [7, 21, 22, 25, 26, 27, 29, 30, 31, 32, 34, 35, 36, 37, 39, 40];
export const VBIOS_INDICES = [0, 1, 2, 3, 4, 5, 6, 8, 9, 10, 11, 12];

/** A RIM shaped like NVIDIA's: SWID SoftwareIdentity, TCG Meta, 64 Resources with Hash0..N. */
export function rimXml(
  chip: string,
  version: string,
  activeIndices: readonly number[],
  values: (index: number) => Uint8Array,
  tag: string,
): string {
  const resources: string[] = [];
  for (let i = 0; i < SIM_MEASUREMENT_BLOCKS; i++) {
    const active = activeIndices.includes(i);
    const value = active ? values(i) : new Uint8Array(48);
    // One entry with two alternatives, as real RIMs have for components with several builds.
    const alternatives =
      active && i === activeIndices[1]
        ? [value, new Uint8Array(createHash('sha384').update(`${tag}/alt/${i}`).digest())]
        : [value];
    const hashes = alternatives.map((a, n) => `ns2:Hash${n}="${Buffer.from(a).toString('hex')}"`).join(' ');
    resources.push(
      `        <ns0:Resource type="Measurement" index="${i}" active="${active ? 'True' : 'False'}" alternatives="${alternatives.length}" ${hashes} name="Measurement_${i}" size="48"/>`,
    );
  }
  const tagId = createHash('sha384').update(tag).digest('hex');
  return [
    `<SoftwareIdentity xmlns="${SWID_NS}" xmlns:ns0="${SWID_NS}" xmlns:ns2="${HASH_NS}" corpus="false" name="${chip}" patch="false" supplemental="false" tagId="${tagId}" version="1.0" tagVersion="0">`,
    '    <ns0:Entity name="NVIDIA Corporation" role="softwareCreator tagCreator"/>',
    `    <ns0:Meta xmlns:ns1="${TCG_RIM_NS}" colloquialVersion="${version}" edition="GPU" product="${chip}" revision="r1" PayloadType="direct" ns1:BindingSpec="RIMIM" ns1:BindingSpecVersion="1.01" ns1:PlatformManufacturerId="5703" ns1:PlatformManufacturerStr="NVIDIA Corporation" ns1:PlatformModel="${chip}" ns1:FirmwareManufacturer="NVIDIA Corporation" ns1:FirmwareManufacturerId="5703"/>`,
    `    <ns0:Payload xmlns:SHA384="${HASH_NS}">`,
    ...resources,
    '    </ns0:Payload>',
    '</SoftwareIdentity>',
  ].join('\n');
}

export async function signRim(xml: string, key: CryptoKey, chainDer: readonly Uint8Array[]): Promise<string> {
  return signEnveloped(parseXml(xml), key, chainDer);
}
