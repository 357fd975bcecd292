import hashlib, json, os, sys
from huggingface_hub import HfApi, get_hf_file_metadata, hf_hub_download, hf_hub_url, snapshot_download
repo = sys.argv[1]
out = {}
snap = snapshot_download(repo, revision="main")
files = {}
for root, _, names in os.walk(snap):
    for n in names:
        p = os.path.join(root, n)
        with open(p, "rb") as f:
            files[os.path.relpath(p, snap)] = hashlib.sha256(f.read()).hexdigest()
out["files"] = files
out["snapshot_commit"] = os.path.basename(snap)
out["config"] = open(hf_hub_download(repo, "config.json")).read()
meta = get_hf_file_metadata(hf_hub_url(repo, "model.safetensors"))
out["lfs_meta"] = {"commit": meta.commit_hash, "etag": meta.etag, "size": meta.size}
meta = get_hf_file_metadata(hf_hub_url(repo, "config.json"))
out["git_meta"] = {"commit": meta.commit_hash, "etag": meta.etag, "size": meta.size}
api = HfApi()
info = api.model_info(repo, revision="main", files_metadata=True)
out["sha"] = info.sha
out["siblings"] = sorted(s.rfilename for s in info.siblings)
out["lfs_siblings"] = sorted(s.rfilename for s in info.siblings if s.lfs)
out["tree_root"] = sorted(e.path for e in api.list_repo_tree(repo))
out["tree_sub"] = sorted(e.path for e in api.list_repo_tree(repo, path_in_repo="sub"))
errors = {}
for name, call in [
    ("entry", lambda: hf_hub_download(repo, "nope.json")),
    ("revision", lambda: snapshot_download(repo, revision="v9.9")),
    ("repo", lambda: snapshot_download("nobody/nothing")),
]:
    try:
        call()
        errors[name] = "no error"
    except Exception as e:
        errors[name] = type(e).__name__
out["errors"] = errors
print(json.dumps(out))
