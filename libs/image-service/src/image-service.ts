import type { ServiceImpl } from "@connectrpc/connect";
import type { ImageService } from "@imagesvc/proto";
import { cancelOperation } from "./rpc/cancel-operation";
import { createImage } from "./rpc/create-image";
import type { ImageServiceDeps } from "./rpc/deps";
import { getOperation } from "./rpc/get-operation";
import { getOperationHistory } from "./rpc/get-operation-history";
import { listOperations } from "./rpc/list-operations";
import {
  deprecateImage,
  getFamily,
  promoteImage,
  rollbackFamily,
  setFamilyPolicy,
  shareImage,
} from "./rpc/releases";
import { waitOperation } from "./rpc/wait-operation";
import { watchOperation } from "./rpc/watch-operation";

export type { ImageServiceDeps } from "./rpc/deps";
export { MAX_WAIT_MS } from "./rpc/wait-operation";

/**
 * The ImageService RPCs, one file each under rpc/. Validation first, then Redis; the lifecycle
 * rules (what cancel may do) live in libs/lifecycle. See docs/design.md for the flow.
 */
export function createImageService(deps: ImageServiceDeps): ServiceImpl<typeof ImageService> {
  return {
    createImage: createImage(deps),
    getOperation: getOperation(deps),
    getOperationHistory: getOperationHistory(deps),
    watchOperation: watchOperation(deps),
    waitOperation: waitOperation(deps),
    listOperations: listOperations(deps),
    cancelOperation: cancelOperation(deps),
    promoteImage: promoteImage(deps),
    rollbackFamily: rollbackFamily(deps),
    deprecateImage: deprecateImage(deps),
    setFamilyPolicy: setFamilyPolicy(deps),
    getFamily: getFamily(deps),
    shareImage: shareImage(deps),
  };
}
