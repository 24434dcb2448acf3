"""deploy/k8s checked offline (ctest k8s_manifests).

scripts/validate-k8s renders the base, every overlay and every component
with kustomize and validates each manifest with kubectl-validate (Kubernetes
API schemas + the KEDA / prometheus-operator CRDs from scripts/bootstrap).
Here: that run passes and covers every overlay; the validator really rejects
broken manifests; and what schemas cannot see - every overlay's job file
parses with vecmig itself and its {env:} secrets all come from the Secret the
pods load, the KEDA trigger watches exactly the job's topic and consumer
group on the job's brokers with the job's TLS/SASL, the autoscalers stay
within the partition count vecmig creates, and the probes/args/security
settings the deployment relies on.
"""
import base64
import os
import pathlib
import re
import subprocess

import pytest
import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
VALIDATE = ROOT / "scripts" / "validate-k8s"
OVERLAYS = sorted(p.name for p in (K8S / "overlays").iterdir() if p.is_dir())
# vecmig creates the task topic with min(tasks, 32) partitions
# (coordinator/coordinator.c); a consumer group cannot use more consumers.
MAX_PARTITIONS = 32


def vecmig_bin():
    b = os.environ.get("VECMIG_BIN") or str(ROOT / "build" / "test" / "cli" / "vecmig")
    assert os.access(b, os.X_OK), f"vecmig binary not found at {b} (set VECMIG_BIN)"
    return b


def render(target):
    """Rendered objects of deploy/k8s/<target> (kubectl kustomize or kustomize)."""
    cache = pathlib.Path(os.environ.get("VECMIG_CACHE", pathlib.Path.home() / ".cache" / "vecmig"))
    if subprocess.run(["sh", "-c", "command -v kubectl"], capture_output=True).returncode == 0:
        cmd = ["kubectl", "kustomize", str(K8S / target)]
    else:
        cmd = [str(cache / "go-bin" / "kustomize"), "build", str(K8S / target)]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, f"kustomize {target}: {r.stderr}"
    return [d for d in yaml.safe_load_all(r.stdout) if d]


def one(objs, kind, name=None):
    hits = [o for o in objs if o["kind"] == kind and (name is None or o["metadata"]["name"] == name)]
    assert len(hits) == 1, f"expected one {kind} {name or ''}, found {len(hits)}"
    return hits[0]


def job_file(objs):
    cm = one(objs, "ConfigMap")
    assert cm["metadata"]["name"].startswith("vecmig-job")
    return cm["data"]["job.yaml"]


def secret_env(objs):
    s = one(objs, "Secret", "vecmig-credentials")
    return {k: base64.b64decode(v).decode() for k, v in s.get("data", {}).items()}


def test_validate_k8s_passes_and_covers_every_overlay():
    r = subprocess.run([str(VALIDATE)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    for t in ["base"] + [f"overlays/{o}" for o in OVERLAYS] + ["components/keda", "components/hpa",
                                                                 "components/servicemonitor"]:
        assert any(l.split()[0] == t and " ok (" in l for l in lines), f"{t} missing:\n{r.stdout}"
    assert {"dev", "strimzi", "managed"} <= set(OVERLAYS)


BROKEN = {
    "scaledobject-typo.yaml": ("""\
apiVersion: keda.sh/v1alpha1
kind: ScaledObject
metadata: {name: vecmig-worker}
spec:
  scaleTargetRef: {name: vecmig-worker}
  maxReplicaCont: 4
  triggers:
    - type: kafka
      metadata: {bootstrapServers: "k:9092", consumerGroup: g, topic: t, lagThreshold: "2"}
""", "maxReplicaCont"),
    "deployment-string-replicas.yaml": ("""\
apiVersion: apps/v1
kind: Deployment
metadata: {name: vecmig-worker}
spec:
  replicas: "two"
  selector: {matchLabels: {app: w}}
  template:
    metadata: {labels: {app: w}}
    spec: {containers: [{name: worker, image: vecmig}]}
""", "spec.replicas"),
    "podmonitor-bad-endpoints.yaml": ("""\
apiVersion: monitoring.coreos.com/v1
kind: PodMonitor
metadata: {name: vecmig-worker}
spec:
  selector: {matchLabels: {app: w}}
  podMetricsEndpoints: {port: metrics}
""", "podMetricsEndpoints"),
    "probe-missing-port.yaml": ("""\
apiVersion: v1
kind: Pod
metadata: {name: p}
spec:
  containers:
    - name: c
      image: vecmig
      livenessProbe: {httpGet: {path: /healthz}}
""", "port"),
}


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_validator_rejects_broken_manifest(tmp_path, name):
    text, needle = BROKEN[name]
    f = tmp_path / name
    f.write_text(text)
    r = subprocess.run([str(VALIDATE), str(f)], capture_output=True, text=True, timeout=120)
    assert r.returncode != 0, f"{name} was accepted:\n{r.stdout}"
    assert "FAILED" in r.stdout and needle in r.stdout, r.stdout + r.stderr


def test_validator_accepts_a_good_manifest(tmp_path):
    # the broken cases above minus their fault: the rejections are not blanket
    f = tmp_path / "ok.yaml"
    f.write_text(BROKEN["scaledobject-typo.yaml"][0].replace("maxReplicaCont", "maxReplicaCount"))
    r = subprocess.run([str(VALIDATE), str(f)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("overlay", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_job_file_parses_and_secret_supplies_every_variable(tmp_path, overlay):
    objs = render(overlay)
    text = job_file(objs)
    (tmp_path / "job.yaml").write_text(text)
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(tmp_path)}
    env.update(secret_env(objs))
    referenced = set(re.findall(r"\{env:\s*([A-Za-z0-9_]+)\s*\}", text))
    assert referenced, "the example job file should take its credentials from the environment"
    assert referenced <= set(env), f"job.yaml needs {sorted(referenced - set(env))}, not in the Secret"
    # the pods' Redis is not here: a refused connection proves the file was
    # read, every key known and every {env:} resolved (a bad file exits 2)
    env["VECMIG_REDIS_URL"] = "redis://127.0.0.1:1/0"
    r = subprocess.run([vecmig_bin(), "status", "job.yaml", "--json"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 1 and "redis" in r.stderr, f"rc={r.returncode}: {r.stderr}"


def test_job_file_check_catches_an_unknown_key(tmp_path):
    objs = render("base")
    (tmp_path / "job.yaml").write_text(job_file(objs).replace("task_rows:", "task_rowz:"))
    env = {"PATH": os.environ.get("PATH", ""), **secret_env(objs), "VECMIG_REDIS_URL": "redis://127.0.0.1:1/0"}
    r = subprocess.run([vecmig_bin(), "status", "job.yaml"], cwd=tmp_path, env=env,
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "task_rowz" in r.stderr, r.stderr


# librdkafka's sasl.mechanisms (librdkafka's default is GSSAPI) -> KEDA's kafka trigger `sasl`
KEDA_SASL = {"PLAIN": "plaintext", "SCRAM-SHA-256": "scram_sha256", "SCRAM-SHA-512": "scram_sha512",
             "OAUTHBEARER": "oauthbearer", "GSSAPI": "gssapi"}


def expected_queue(job):
    q = job.get("queue") or {}
    jid = job["job"]["id"]
    brokers = q["brokers"]
    if isinstance(brokers, list):
        brokers = ",".join(brokers)
    props = q.get("properties") or {}
    proto = str(props.get("security.protocol", "PLAINTEXT")).upper()
    return {
        "topic": f"{q.get('topic') or 'vecmig.tasks'}.{jid}",
        "group": f"{q.get('group') or 'vecmig-workers'}.{jid}",
        "brokers": brokers.replace(" ", ""),
        "tls": proto in ("SSL", "SASL_SSL"),
        "sasl": KEDA_SASL[str(props.get("sasl.mechanisms", "GSSAPI")).upper()] if "SASL" in proto else None,
    }


@pytest.mark.parametrize("overlay", [o for o in OVERLAYS])
def test_keda_trigger_watches_the_jobs_topic_and_group(overlay):
    objs = render(f"overlays/{overlay}")
    so = [o for o in objs if o["kind"] == "ScaledObject"]
    if not so:
        pytest.skip(f"{overlay} has no ScaledObject")  # every current overlay has one (asserted below)
    so = so[0]
    job = yaml.safe_load(job_file(objs))
    want = expected_queue(job)
    (trig,) = so["spec"]["triggers"]
    md = trig["metadata"]
    assert trig["type"] == "kafka"
    assert md["topic"] == want["topic"], f"{overlay}: trigger topic {md['topic']}, job publishes to {want['topic']}"
    assert md["consumerGroup"] == want["group"], f"{overlay}: trigger group {md['consumerGroup']} != {want['group']}"
    assert md["bootstrapServers"].replace(" ", "") == want["brokers"]
    assert (md.get("tls") == "enable") == want["tls"], f"{overlay}: trigger tls {md.get('tls')}"
    assert md.get("sasl") == (want["sasl"] or None), f"{overlay}: trigger sasl {md.get('sasl')} != {want['sasl']}"
    assert md["offsetResetPolicy"] == "earliest"  # vecmig's consumers start at the first task
    assert md.get("allowIdleConsumers", "false") == "false"
    if want["tls"] or want["sasl"]:
        ref = trig["authenticationRef"]["name"]
        ta = one(objs, "TriggerAuthentication", ref)
        params = {r["parameter"] for r in ta["spec"]["secretTargetRef"]}
        if want["sasl"]:
            assert {"username", "password"} <= params
            sec = secret_env(objs)
            for r in ta["spec"]["secretTargetRef"]:
                if r["name"] == "vecmig-credentials":
                    assert r["key"] in sec, f"TriggerAuthentication reads {r['key']}, not in the Secret"
    spec = so["spec"]
    assert spec["scaleTargetRef"]["name"] == "vecmig-worker"
    assert 1 <= spec["minReplicaCount"] <= spec["maxReplicaCount"] <= MAX_PARTITIONS
    assert spec["fallback"]["replicas"] <= spec["maxReplicaCount"]
    dep = one(objs, "Deployment", "vecmig-worker")
    assert "replicas" not in dep["spec"], "the autoscaler owns replicas: the component must remove it"


def test_every_overlay_scales_the_workers():
    for o in OVERLAYS:
        assert any(x["kind"] == "ScaledObject" for x in render(f"overlays/{o}")), o


def test_hpa_component_within_partition_limit(tmp_path):
    hpa = yaml.safe_load((K8S / "components" / "hpa" / "hpa.yaml").read_text())
    assert hpa["spec"]["scaleTargetRef"]["name"] == "vecmig-worker"
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"] <= MAX_PARTITIONS


def container(obj):
    (c,) = obj["spec"]["template"]["spec"]["containers"]
    return c


@pytest.mark.parametrize("overlay", ["base"] + [f"overlays/{o}" for o in OVERLAYS])
def test_pods_probes_args_and_security(overlay):
    objs = render(overlay)
    dep = one(objs, "Deployment", "vecmig-worker")
    job = one(objs, "Job", "vecmig-coordinator")
    cm_name = one(objs, "ConfigMap")["metadata"]["name"]
    w, c = container(dep), container(job)
    assert w["args"][:2] == ["worker", "/etc/vecmig/job.yaml"]
    assert c["args"][:3] == ["coordinator", "start", "/etc/vecmig/job.yaml"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] == "Never"
    assert job["spec"]["backoffLimit"] == 6
    rules = job["spec"]["podFailurePolicy"]["rules"]
    fail = [r for r in rules if r["action"] == "FailJob"][0]["onExitCodes"]
    assert fail["containerName"] == c["name"] and sorted(fail["values"]) == [2, 4]
    for obj, ctr in ((dep, w), (job, c)):
        pod = obj["spec"]["template"]["spec"]
        args = ctr["args"]
        metrics = args[args.index("--metrics") + 1]
        port = int(metrics.rsplit(":", 1)[1])
        ports = {p["name"]: p["containerPort"] for p in ctr["ports"]}
        assert ports["metrics"] == port
        assert ctr["readinessProbe"]["httpGet"]["path"] == "/readyz"
        assert ctr["livenessProbe"]["httpGet"]["path"] == "/healthz"
        for probe in ("readinessProbe", "livenessProbe"):
            assert ctr[probe]["httpGet"]["port"] in ("metrics", port)
        ann = obj["spec"]["template"]["metadata"]["annotations"]
        assert ann["prometheus.io/scrape"] == "true" and int(ann["prometheus.io/port"]) == port
        sc = ctr["securityContext"]
        assert sc["readOnlyRootFilesystem"] is True and sc["allowPrivilegeEscalation"] is False
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert pod["securityContext"]["runAsNonRoot"] is True and pod["securityContext"]["runAsUser"] > 0
        assert pod["securityContext"]["seccompProfile"]["type"] == "RuntimeDefault"
        assert pod["automountServiceAccountToken"] is False
        vols = {v["name"]: v for v in pod["volumes"]}
        mounts = {m["mountPath"]: m["name"] for m in ctr["volumeMounts"]}
        assert vols[mounts["/etc/vecmig"]]["configMap"]["name"] == cm_name
        assert "/tmp" in mounts
        assert {"secretRef": {"name": "vecmig-credentials"}} in ctr["envFrom"]
    if "--report" in c["args"]:
        rdir = os.path.dirname(c["args"][c["args"].index("--report") + 1])
        mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
        vols = {v["name"]: v for v in job["spec"]["template"]["spec"]["volumes"]}
        assert "emptyDir" in vols[mounts[rdir]], "the report must go to a writable volume"
    if overlay != "base":
        for ctr in (w, c):
            assert ctr["image"] != "vecmig" and ":" in ctr["image"], f"{overlay}: set the image (images:)"
    res = w["resources"]
    assert res["requests"]["cpu"] and res["requests"]["memory"] and res["limits"]["memory"]
    assert dep["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] >= 30
    sa = one(objs, "ServiceAccount", "vecmig")
    assert sa["automountServiceAccountToken"] is False
    svc = one(objs, "Service", "vecmig-coordinator")
    assert svc["spec"]["selector"].items() <= job["spec"]["template"]["metadata"]["labels"].items()
