import type { JsonReadOptions } from "@bufbuild/protobuf";

/**
 * How records and update messages are read: fields (and enum values) a newer release added are
 * skipped, so old and new processes run side by side during a rolling upgrade. A field an old
 * process does not know is dropped when it writes the next version; new fields are therefore
 * optional by design (docs/design.md, "Rolling upgrades").
 */
export const UNKNOWN_FIELDS_IGNORED: Partial<JsonReadOptions> = { ignoreUnknownFields: true };
