import type { CreateImageRequest } from "@imagesvc/proto";
import { namedResources } from "@imagesvc/validation";
import type { Policy } from "./policy";

/**
 * Google's public image projects (Compute's "Public images" list): anyone may use their images,
 * and attach the OS licenses they publish (`projects/debian-cloud/global/licenses/...`,
 * `windows-cloud`'s, `ubuntu-os-cloud`'s), so `source_image` and `licenses` in them need no
 * grant. AUTH_PUBLIC_IMAGE_PROJECTS replaces the list.
 */
export const DEFAULT_PUBLIC_IMAGE_PROJECTS: readonly string[] = [
  "almalinux-cloud",
  "centos-cloud",
  "cos-cloud",
  "debian-cloud",
  "deeplearning-platform-release",
  "fedora-cloud",
  "fedora-coreos-cloud",
  "freebsd-org-cloud-dev",
  "ml-images",
  "opensuse-cloud",
  "oracle-linux-cloud",
  "rhel-cloud",
  "rhel-sap-cloud",
  "rocky-linux-accelerator-cloud",
  "rocky-linux-cloud",
  "suse-cloud",
  "suse-sap-cloud",
  "ubuntu-os-accelerator-images",
  "ubuntu-os-cloud",
  "ubuntu-os-pro-cloud",
  "windows-cloud",
  "windows-sql-cloud",
];

/** Fields whose resource anyone may name when it is in a public image project. */
const isPublicField = (field: string) =>
  field === "image.source_image" ||
  field === "image.deprecated.replacement" ||
  field.startsWith("image.licenses[");

/**
 * Why `caller` may not use what `request` names, one sentence per refused field; empty when it
 * may. Besides `create` on the target project, each other project the request names needs `use`
 * (public image projects excepted, for `source_image` and `licenses`: a license can carry
 * billing and entitlements, so only Google's public OS licenses come free), each raw-disk bucket
 * must be listed by a grant of `create` on the target project, and a service account whose
 * project its email does not tell needs `use` on every project ("*").
 */
export function refusedResources(
  policy: Policy,
  caller: string,
  request: CreateImageRequest,
  publicImageProjects: ReadonlySet<string>,
): string[] {
  const refused: string[] = [];
  for (const named of namedResources(request)) {
    switch (named.kind) {
      case "project":
        if (named.project === request.project) continue;
        if (isPublicField(named.field) && publicImageProjects.has(named.project)) continue;
        if (!policy.allows(caller, named.project, "use"))
          refused.push(
            `${named.field} names project ${named.project}, where ${caller} has no "use" grant`,
          );
        break;
      case "bucket":
        if (!policy.allowsBucket(caller, request.project, named.bucket))
          refused.push(
            `${named.field} names bucket ${named.bucket}, which no grant of ${caller} for project ${request.project} lists`,
          );
        break;
      case "unknown-project":
        if (!policy.allows(caller, "*", "use"))
          refused.push(
            `${named.field} names ${named.value}, whose project its name does not tell; ${named.fix}`,
          );
        break;
    }
  }
  return refused;
}
