"""Reference for bench/encoder.ts: the `small` preset's architecture in PyTorch on CPU (2 threads).
Usage: torch_ae.py images.npy(uint8 N×S×S×C) epochs latent. Prints one JSON line."""
import json
import math
import sys
import time

import numpy as np
import torch
from torch import nn

torch.set_num_threads(2)
torch.manual_seed(1)
x = np.load(sys.argv[1])
epochs = int(sys.argv[2])
latent = int(sys.argv[3])
n, s, _, c = x.shape
data = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255.0).contiguous()
base = math.ceil(s / 4)


class AE(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc = nn.Sequential(
            nn.Conv2d(c, 16, 3, 2, 1), nn.ReLU(),
            nn.Conv2d(16, 32, 3, 2, 1), nn.ReLU(),
            nn.Flatten(), nn.Linear(32 * math.ceil(s / 2 / 2) ** 2, latent))
        self.dec_fc = nn.Sequential(nn.Linear(latent, base * base * 32), nn.ReLU())
        self.dec = nn.Sequential(
            nn.ConvTranspose2d(32, 16, 3, 2, 1, output_padding=1), nn.ReLU(),
            nn.ConvTranspose2d(16, c, 3, 2, 1, output_padding=1), nn.Sigmoid())

    def forward(self, v):
        h = self.dec(self.dec_fc(self.enc(v)).view(-1, 32, base, base))
        extra = base * 4 - s
        a = extra // 2
        return h[:, :, a:a + s, a:a + s]


model = AE()
opt = torch.optim.Adam(model.parameters(), lr=0.002)
loss_fn = nn.MSELoss()
t0 = time.perf_counter()
for e in range(epochs):
    perm = torch.randperm(n)
    for i in range(0, n, 64):
        b = data[perm[i:i + 64]]
        opt.zero_grad()
        loss = loss_fn(model(b), b)
        loss.backward()
        opt.step()
train_s = time.perf_counter() - t0
t0 = time.perf_counter()
with torch.no_grad():
    for i in range(0, n, 256):
        model.enc(data[i:i + 256])
enc_s = time.perf_counter() - t0
print(json.dumps({"trainImagesPerSecond": n * epochs / train_s, "encodeImagesPerSecond": n / enc_s, "finalLoss": float(loss), "torch": torch.__version__}))
