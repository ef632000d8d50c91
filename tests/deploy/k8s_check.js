// Offline schema and policy check of rendered Kubernetes manifests (`kubectl kustomize` output).
//   node k8s_check.js OVERLAY FILE        OVERLAY: base | sidecar | sharded
//
// 1. Schema: every object is validated against the Kubernetes 1.2x OpenAPI schema bundled in
//    the npm package kubernetes-models (Prometheus Operator CRDs: @kubernetes-models/
//    prometheus-operator): types, required fields, enums. Those schemas allow unknown fields, so
//    a typo such as `readinessprobe:` would pass: the keys of the main objects (metadata, pod
//    and workload specs, containers, probes, securityContexts, ports, Service specs) are also
//    checked against the property lists of the same bundled schemas.
// 2. Policy: what the issue asks of each workload (probes on /-/healthy and /-/ready whose ports
//    exist, requests and limits, non-root, read-only root, no privilege escalation, drop ALL),
//    references that resolve inside the rendered set (ConfigMaps, Service selectors and target
//    ports, ServiceMonitor selector and port), and per overlay: zero config in the sidecar, the
//    shard flags and the ordinal wrapper of the StatefulSet (run with sh for pod names -0..-2).
"use strict";
const fs = require("fs");
const path = require("path");
const { execFileSync } = require("child_process");
const YAML = require("yaml");

const [overlay, file] = process.argv.slice(2);
if (!overlay || !file) {
  console.error("usage: node k8s_check.js base|sidecar|sharded RENDERED.yaml");
  process.exit(2);
}
const failures = [];
const fail = (msg) => {
  failures.push(msg);
  console.log("FAIL " + msg);
};
const ok = (msg) => console.log("ok   " + msg);

const docs = YAML.parseAllDocuments(fs.readFileSync(file, "utf8"))
  .map((d) => d.toJS())
  .filter((d) => d);
const id = (o) => `${o.kind}/${o.metadata && o.metadata.name}`;

// ---- 1. schema ----------------------------------------------------------------------------
function modelFor(apiVersion, kind) {
  const [group, version] = apiVersion.includes("/") ? apiVersion.split("/") : ["", apiVersion];
  const candidates =
    group === "monitoring.coreos.com"
      ? [`@kubernetes-models/prometheus-operator/${group}/${version}/${kind}`]
      : [`kubernetes-models/${group ? group + "/" : ""}${version}/${kind}`];
  for (const c of candidates) {
    try {
      return require(c)[kind];
    } catch (e) {
      /* next */
    }
  }
  return null;
}

const schemaDirs = ["kubernetes-models", "@kubernetes-models/apimachinery"].map(
  (p) => path.dirname(require.resolve(`${p}/package.json`)) + "/_schemas");
const propCache = new Map();
function knownProps(schema) {
  if (!propCache.has(schema)) {
    const dir = schemaDirs.find((d) => fs.existsSync(`${d}/${schema}.js`));
    if (!dir) throw new Error(`schema ${schema} not found`);
    const src = fs.readFileSync(`${dir}/${schema}.js`, "utf8");
    const props = new Set([...src.matchAll(/void 0[=!]==data\.([A-Za-z_$][\w$]*)/g)].map((m) => m[1]));
    if (props.size === 0) throw new Error(`no properties found in schema ${schema}`);
    propCache.set(schema, props);
  }
  return propCache.get(schema);
}
function checkKeys(obj, schema, where) {
  if (!obj || typeof obj !== "object") return;
  const props = knownProps(schema);
  for (const key of Object.keys(obj)) {
    if (!props.has(key)) fail(`${where}: unknown field "${key}" (not in ${schema})`);
  }
}
function checkPodTemplate(template, where) {
  checkKeys(template.metadata, "IoK8sApimachineryPkgApisMetaV1ObjectMeta", `${where}.template.metadata`);
  const spec = template.spec || {};
  checkKeys(spec, "IoK8sApiCoreV1PodSpec", `${where}.template.spec`);
  checkKeys(spec.securityContext, "IoK8sApiCoreV1PodSecurityContext", `${where}.securityContext`);
  for (const c of [...(spec.initContainers || []), ...(spec.containers || [])]) {
    const w = `${where} container ${c.name}`;
    checkKeys(c, "IoK8sApiCoreV1Container", w);
    checkKeys(c.securityContext, "IoK8sApiCoreV1SecurityContext", `${w}.securityContext`);
    checkKeys(c.resources, "IoK8sApiCoreV1ResourceRequirements", `${w}.resources`);
    for (const p of c.ports || []) checkKeys(p, "IoK8sApiCoreV1ContainerPort", `${w}.ports`);
    for (const probe of ["livenessProbe", "readinessProbe", "startupProbe"]) {
      checkKeys(c[probe], "IoK8sApiCoreV1Probe", `${w}.${probe}`);
    }
    for (const e of c.env || []) checkKeys(e, "IoK8sApiCoreV1EnvVar", `${w}.env`);
    for (const m of c.volumeMounts || []) checkKeys(m, "IoK8sApiCoreV1VolumeMount", `${w}.volumeMounts`);
  }
  for (const v of spec.volumes || []) checkKeys(v, "IoK8sApiCoreV1Volume", `${where}.volumes`);
}

for (const o of docs) {
  const Model = o.apiVersion && o.kind ? modelFor(o.apiVersion, o.kind) : null;
  if (!Model) {
    fail(`${id(o)}: no schema for apiVersion ${o.apiVersion} kind ${o.kind}`);
    continue;
  }
  try {
    new Model(o).validate();
  } catch (e) {
    fail(`${id(o)} (${o.apiVersion}): ${e.message}`);
    continue;
  }
  checkKeys(o.metadata, "IoK8sApimachineryPkgApisMetaV1ObjectMeta", `${id(o)}.metadata`);
  if (o.kind === "Deployment") {
    checkKeys(o.spec, "IoK8sApiAppsV1DeploymentSpec", `${id(o)}.spec`);
    checkPodTemplate(o.spec.template, id(o));
  } else if (o.kind === "StatefulSet") {
    checkKeys(o.spec, "IoK8sApiAppsV1StatefulSetSpec", `${id(o)}.spec`);
    checkPodTemplate(o.spec.template, id(o));
  } else if (o.kind === "Service") {
    checkKeys(o.spec, "IoK8sApiCoreV1ServiceSpec", `${id(o)}.spec`);
    for (const p of o.spec.ports || []) checkKeys(p, "IoK8sApiCoreV1ServicePort", `${id(o)}.ports`);
  }
}
if (failures.length === 0) {
  ok(`schema: ${docs.length} objects valid (${docs.map(id).join(", ")})`);
}

// ---- 2. policy ----------------------------------------------------------------------------
const byKind = (kind) => docs.filter((o) => o.kind === kind);
const workloads = [...byKind("Deployment"), ...byKind("StatefulSet")];
const matches = (selector, labels) =>
  Object.entries(selector || {}).every(([k, v]) => labels && labels[k] === v);
const hasLimits = (r) =>
  r && r.requests && r.limits && r.requests.cpu && r.requests.memory && r.limits.cpu && r.limits.memory;

function portExists(container, port) {
  return (container.ports || []).some((p) => p.name === port || p.containerPort === port);
}

let exporters = [];
for (const w of workloads) {
  const spec = w.spec.template.spec;
  const podSc = spec.securityContext || {};
  if (!matches(w.spec.selector.matchLabels, w.spec.template.metadata.labels)) {
    fail(`${id(w)}: selector does not match the pod template's labels`);
  }
  for (const c of spec.containers) {
    if (!hasLimits(c.resources)) fail(`${id(w)} ${c.name}: needs cpu and memory requests and limits`);
    if (!c.image || c.image.endsWith(":latest") || !c.image.includes(":")) {
      fail(`${id(w)} ${c.name}: image ${c.image} has no pinned tag`);
    }
    for (const probe of ["livenessProbe", "readinessProbe"]) {
      const p = c[probe];
      if (!p) {
        fail(`${id(w)} ${c.name}: no ${probe}`);
        continue;
      }
      const port = (p.httpGet || p.tcpSocket || {}).port;
      if (port !== undefined && !portExists(c, port)) {
        fail(`${id(w)} ${c.name}: ${probe} port ${port} is not a port of the container`);
      }
    }
    for (const m of c.volumeMounts || []) {
      if (!(spec.volumes || []).some((v) => v.name === m.name)) {
        fail(`${id(w)} ${c.name}: volumeMount ${m.name} has no volume`);
      }
    }
    if (c.name !== "smtp-exporter") continue;
    exporters.push({ w, c });
    const sc = c.securityContext || {};
    if (!(sc.runAsNonRoot === true || (podSc.runAsNonRoot === true && sc.runAsNonRoot !== false))) {
      fail(`${id(w)} exporter: runAsNonRoot is not set`);
    }
    if ((sc.runAsUser ?? podSc.runAsUser) === 0) fail(`${id(w)} exporter: runs as uid 0`);
    if (sc.readOnlyRootFilesystem !== true) fail(`${id(w)} exporter: root filesystem not read-only`);
    if (sc.allowPrivilegeEscalation !== false) fail(`${id(w)} exporter: allowPrivilegeEscalation not false`);
    if (!(sc.capabilities && (sc.capabilities.drop || []).includes("ALL"))) {
      fail(`${id(w)} exporter: capabilities do not drop ALL`);
    }
    if ((sc.capabilities && sc.capabilities.add || []).length) fail(`${id(w)} exporter: adds capabilities`);
    const live = c.livenessProbe && c.livenessProbe.httpGet;
    const ready = c.readinessProbe && c.readinessProbe.httpGet;
    if (!live || live.path !== "/-/healthy") fail(`${id(w)} exporter: liveness is not GET /-/healthy`);
    if (!ready || ready.path !== "/-/ready") fail(`${id(w)} exporter: readiness is not GET /-/ready`);
    if (!(c.ports || []).some((p) => p.containerPort === 9025)) fail(`${id(w)} exporter: no port 9025`);
  }
  for (const v of spec.volumes || []) {
    if (v.configMap && !byKind("ConfigMap").some((cm) => cm.metadata.name === v.configMap.name)) {
      fail(`${id(w)}: volume ${v.name} refers to missing ConfigMap ${v.configMap.name}`);
    }
  }
}
if (exporters.length === 0) fail("no smtp-exporter container rendered");

const services = byKind("Service");
for (const s of services) {
  const pods = workloads.filter((w) => matches(s.spec.selector, w.spec.template.metadata.labels));
  if (pods.length === 0) {
    fail(`${id(s)}: selector matches no workload`);
    continue;
  }
  for (const p of s.spec.ports) {
    const target = p.targetPort ?? p.port;
    const found = pods.some((w) => w.spec.template.spec.containers.some((c) => portExists(c, target)));
    if (!found) fail(`${id(s)}: targetPort ${target} is no container port of the selected pods`);
  }
}
for (const sm of byKind("ServiceMonitor")) {
  const svc = services.filter((s) => matches(sm.spec.selector.matchLabels, s.metadata.labels));
  if (svc.length === 0) fail(`${id(sm)}: selects no Service`);
  for (const e of sm.spec.endpoints) {
    if (!svc.some((s) => s.spec.ports.some((p) => p.name === e.port))) {
      fail(`${id(sm)}: endpoint port ${e.port} is not a port of the selected Service`);
    }
    if (e.path !== "/metrics") fail(`${id(sm)}: scrapes ${e.path}, want /metrics`);
    const job = (e.relabelings || []).find((r) => r.targetLabel === "job");
    if (!job || job.replacement !== "smtp_exporter") fail(`${id(sm)}: job label is not smtp_exporter`);
  }
}
for (const pr of byKind("PrometheusRule")) {
  for (const g of pr.spec.groups) {
    for (const r of g.rules) {
      if (r.alert && !(r.annotations && r.annotations.summary && r.annotations.description && r.annotations.runbook_url)) {
        fail(`${id(pr)}: alert ${r.alert} lacks summary, description or runbook_url`);
      }
    }
  }
}
for (const kind of ["Service", "ServiceMonitor", "PrometheusRule"]) {
  if (byKind(kind).length === 0) fail(`no ${kind} rendered`);
}

// ---- per overlay --------------------------------------------------------------------------
const argv = (c) => [...(c.command || []), ...(c.args || [])].join(" ");
if (overlay === "base") {
  const [d] = byKind("Deployment");
  if (!d || d.spec.replicas !== 1) fail("base: want one Deployment with 1 replica");
  if (!exporters.every(({ c }) => argv(c).includes("--config.file=/etc/smtp_exporter/smtp_exporter.yml"))) {
    fail("base: exporter does not read /etc/smtp_exporter/smtp_exporter.yml");
  }
} else if (overlay === "sidecar") {
  const pod = workloads.find((w) => w.spec.template.spec.containers.length >= 2);
  const names = pod ? pod.spec.template.spec.containers.map((c) => c.name) : [];
  if (!pod || !names.includes("postfix") || !names.includes("smtp-exporter")) {
    fail(`sidecar: want one pod with postfix and smtp-exporter containers, got ${names}`);
  } else {
    const postfix = pod.spec.template.spec.containers.find((c) => c.name === "postfix");
    if (!portExists(postfix, 25)) fail("sidecar: postfix container does not expose port 25");
    const exporter = pod.spec.template.spec.containers.find((c) => c.name === "smtp-exporter");
    if (argv(exporter).includes("--config.file")) fail("sidecar: exporter must run with zero config");
    if (byKind("ConfigMap").length) fail("sidecar: no ConfigMap expected");
  }
} else if (overlay === "sharded") {
  const [sts] = byKind("StatefulSet");
  if (!sts || byKind("Deployment").length) fail("sharded: want a StatefulSet and no Deployment");
  else {
    const n = sts.spec.replicas;
    if (n !== 3) fail(`sharded: want 3 replicas, got ${n}`);
    const gov = services.find((s) => s.metadata.name === sts.spec.serviceName);
    if (!gov || gov.spec.clusterIP !== "None") fail("sharded: serviceName is not a headless Service");
    const c = sts.spec.template.spec.containers.find((x) => x.name === "smtp-exporter");
    const env = Object.fromEntries((c.env || []).map((e) => [e.name, e]));
    if (!env.SHARD_COUNT || Number(env.SHARD_COUNT.value) !== n) {
      fail(`sharded: SHARD_COUNT ${env.SHARD_COUNT && env.SHARD_COUNT.value} != replicas ${n}`);
    }
    if (!env.POD_NAME || env.POD_NAME.valueFrom.fieldRef.fieldPath !== "metadata.name") {
      fail("sharded: POD_NAME must come from metadata.name");
    }
    if (byKind("ConfigMap").length !== 1) fail("sharded: want one shared target-list ConfigMap");
    // Run the wrapper as each replica would, with the binary replaced by printf.
    if (c.command && c.command[0] === "/bin/sh" && c.command[1] === "-c") {
      const script = c.args[0].replace("exec /usr/local/bin/smtp_exporter", "exec printf '%s\\n'");
      for (let i = 0; i < n; i++) {
        const out = execFileSync("sh", ["-c", script], {
          env: { POD_NAME: `${sts.metadata.name}-${i}`, SHARD_COUNT: env.SHARD_COUNT.value, PATH: process.env.PATH },
        }).toString().split("\n");
        if (!out.includes(`--shard.index=${i}`) || !out.includes(`--shard.count=${n}`) ||
            !out.includes("--config.file=/etc/smtp_exporter/smtp_exporter.yml")) {
          fail(`sharded: pod ${sts.metadata.name}-${i} would run with ${out.join(" ")}`);
        }
      }
      ok(`sharded: pods ${sts.metadata.name}-0..${n - 1} pass --shard.index=0..${n - 1} --shard.count=${n}`);
    } else if (!argv(c).includes("--shard.index") || !argv(c).includes("--shard.count")) {
      fail("sharded: exporter gets no --shard.index/--shard.count");
    }
  }
} else {
  fail(`unknown overlay ${overlay}`);
}

console.log(failures.length ? `${failures.length} failed` : `all checks passed for ${overlay}`);
process.exit(failures.length ? 1 : 0);
