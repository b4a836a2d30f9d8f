# Golden vectors for Kindred's weight normalisation and commit hash, made with PyPI bittensor 9.12.2.
import json, numpy as np
from bittensor.utils.weight_utils import convert_weights_and_uids_for_emit, generate_weight_hash
cases = [
  ([0,1,2,3], [0.1,0.2,0.3,0.4]),
  ([5,3,9], [1.0,0.0,0.5]),
  ([0,1,2], [1.0, 0.5/65535, 1.5/65535]),
  ([0,1,2,3,4], [3.0, 1.0, 2.0, 0.5, 1e-9]),
  ([7], [0.25]),
  ([0,1,2,3,4,5,6,7], [0.125]*8),
  ([10,11,12], [2.5, 2.5, 1.25]),
  ([0,1,2,3], [0.0,0.0,0.0,0.0]),
  ([1,2,3,4,5,6], [0.93, 0.0312, 0.0113, 0.017, 0.00456, 0.00592]),
]
norm = []
for uids, ws in cases:
    u, v = convert_weights_and_uids_for_emit(np.array(uids, dtype=np.int64), np.array(ws, dtype=np.float32))
    norm.append({"uids": uids, "weights": ws, "dtype": "float32", "emit_uids": [int(x) for x in u], "emit_values": [int(x) for x in v]})
hashes = []
addr = "5EHgWw2Af1pnoc7f1A8bfmM97W3DAYW8xr82RfhLL9oAabAe"
for netuid, uids, vals, salt, vk in [(1,[0,1,2],[65535,32768,1],[1,2,3,4,5,6,7,8],0),
                                    (42,[3],[65535],[65535]*8,1234567),
                                    (2,[],[],[0]*8,18446744073709551615)]:
    h = generate_weight_hash(address=addr, netuid=netuid, uids=uids, values=vals, version_key=vk, salt=salt)
    hashes.append({"hotkey": addr, "netuid": netuid, "uids": uids, "values": vals, "salt": salt, "version_key": vk, "hash": h})
print(json.dumps({"made_with": "bittensor 9.12.2 (PyPI): bittensor.utils.weight_utils.convert_weights_and_uids_for_emit (numpy float32 input) and generate_weight_hash; script: chain/tests/data/golden_weights.py", "normalise": norm, "commit_hash": hashes}, indent=1))
