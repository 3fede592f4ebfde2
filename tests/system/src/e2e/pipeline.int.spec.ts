import { pipelineSuite } from "./pipeline.test-helper";

pipelineSuite(() => ({}));
