import { describe, expect, it } from "vitest";
import { ovfDisks } from "./ova";

/** An OVF as VirtualBox writes one: the data disk listed first, the boot disk on the first drive. */
const OVF = `<?xml version="1.0"?>
<Envelope ovf:version="1.0" xmlns="http://schemas.dmtf.org/ovf/envelope/1" xmlns:ovf="http://schemas.dmtf.org/ovf/envelope/1" xmlns:rasd="http://schemas.dmtf.org/wbem/wscim/1/cim-schema/2/CIM_ResourceAllocationSettingData">
  <References>
    <File ovf:id="file1" ovf:href="App Data &amp; Logs.vmdk"/>
    <File ovf:id="file2" ovf:href="App Boot.vmdk"/>
  </References>
  <DiskSection>
    <Info>Virtual disk information</Info>
    <Disk ovf:capacity="2" ovf:capacityAllocationUnits="byte * 2^30" ovf:diskId="vmdisk1" ovf:fileRef="file1" ovf:format="http://www.vmware.com/interfaces/specifications/vmdk.html#streamOptimized"/>
    <Disk ovf:capacity="4" ovf:diskId="vmdisk2" ovf:fileRef="file2"/>
  </DiskSection>
  <VirtualSystem ovf:id="app">
    <VirtualHardwareSection>
      <Item><rasd:ResourceType>3</rasd:ResourceType></Item>
      <Item>
        <rasd:AddressOnParent>0</rasd:AddressOnParent>
        <rasd:HostResource>ovf:/disk/vmdisk2</rasd:HostResource>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
      <Item>
        <rasd:HostResource>ovf:/disk/vmdisk1</rasd:HostResource>
        <rasd:ResourceType>17</rasd:ResourceType>
      </Item>
    </VirtualHardwareSection>
  </VirtualSystem>
</Envelope>`;

describe("ovfDisks", () => {
  it("lists every disk with its file, and takes the first hard disk drive's as the boot disk", () => {
    expect(ovfDisks(OVF)).toEqual([
      { member: "App Data & Logs.vmdk", boot: false },
      { member: "App Boot.vmdk", boot: true },
    ]);
  });

  it("takes the first disk when no drive says, and refuses an OVF with no disk", () => {
    const noItems = OVF.replace(/<VirtualHardwareSection>[\s\S]*<\/VirtualHardwareSection>/, "");
    expect(ovfDisks(noItems).map((d) => d.boot)).toEqual([true, false]);
    expect(() => ovfDisks("<Envelope></Envelope>")).toThrow(/names no disk/);
  });
});
