#!/usr/bin/env node
// Validates Prometheus Operator objects (monitoring.coreos.com/v1) with the schema validators of
// @kubernetes-models/prometheus-operator (pinned in package.json; `npm ci` installs it), which are generated from
// the prometheus-operator API types (pkg/apis/monitoring).
//
//   node tests/components/prometheus_operator.mjs < objects.json
//
// Reads a JSON array of objects on stdin and prints a JSON array of the same length: null for a valid object,
// else the validator's message. Exits 2 when it cannot run.
import { PodMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PodMonitor";
import { ServiceMonitor } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/ServiceMonitor";

const MODELS = { PodMonitor, ServiceMonitor };

let input = "";
process.stdin.setEncoding("utf8");
for await (const chunk of process.stdin) input += chunk;
try {
  const objects = JSON.parse(input);
  const results = objects.map((object) => {
    const Model = MODELS[object.kind];
    if (!Model) return `kind ${object.kind} is not one this checker knows`;
    try {
      new Model(object).validate();
      return null;
    } catch (error) {
      return String(error.message ?? error);
    }
  });
  process.stdout.write(JSON.stringify(results));
} catch (error) {
  process.stderr.write(`prometheus_operator.mjs: ${error}\n`);
  process.exit(2);
}
