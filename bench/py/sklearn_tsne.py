"""Reference t-SNE for bench/tsne.ts: sklearn's Barnes-Hut TSNE on the same input. Prints one JSON line."""
import json
import resource
import sys
import time

import numpy as np
import sklearn
from sklearn.manifold import TSNE

x = np.load(sys.argv[1])
t0 = time.perf_counter()
y = TSNE(n_components=2, init="pca", learning_rate="auto", n_jobs=2, random_state=1).fit_transform(x)
seconds = time.perf_counter() - t0
np.save(sys.argv[2], y.astype(np.float32))
print(json.dumps({"seconds": seconds, "peakRssMB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024, "version": sklearn.__version__}))
