#!/usr/bin/env python3
"""The PyTorch reference of `npm run bench` (never used by the course itself).

The same model (MLP over [x, t], ELU, PyTorch's default initialisation), the same batch, loss and
optimiser as the course's TensorFlow.js training loop:

    x1 = rows of a 2-D training set (with replacement), x0 ~ N(0, I), t ~ U[0, 1]
    x_t = t x1 + (1 - t) x0,  target = x1 - x0
    L = mean over the batch of |u(x_t, t) - target|^2,  Adam(lr = 1e-3)

and sampling with Euler steps from noise. One measurement per call, one JSON line, same arguments as
bench/bench.ts, plus --threads (default 1). scripts/bench.mjs runs it with Debian's python3-torch on OpenBLAS.

`image`: notebook 09's class-conditional network (input: the code x of dimension --dim, t and 8 sines and
8 cosines of k pi t, the label one-hot over classes + 1 with dropout 0.2 to "no label"), same loss and Adam.
"""
import json
import math
import sys
import time

import torch


def arg(name, default):
    flag = f"--{name}"
    if flag in sys.argv:
        return int(float(sys.argv[sys.argv.index(flag) + 1]))
    return default


def mlp(width, depth, d=2, inputs=None):
    layers, inputs = [], d + 1 if inputs is None else inputs
    for _ in range(depth):
        layers += [torch.nn.Linear(inputs, width), torch.nn.ELU()]
        inputs = width
    layers.append(torch.nn.Linear(inputs, d))
    return torch.nn.Sequential(*layers)


def ms_per_step(step, warmup, steps):
    """Milliseconds per call of step(), timed over `steps` calls after `warmup` untimed ones."""
    for _ in range(warmup):
        step()
    start = time.perf_counter()
    for _ in range(steps):
        step()
    return 1000 * (time.perf_counter() - start) / steps


def two_moons(n):
    a = math.pi * torch.rand(n)
    upper = torch.rand(n) < 0.5
    x = torch.where(upper, torch.cos(a), 1 - torch.cos(a))
    y = torch.where(upper, torch.sin(a), 0.5 - torch.sin(a))
    return torch.stack([x, y], 1) + 0.05 * torch.randn(n, 2)


def main():
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what not in ("train", "sample", "image"):
        sys.exit("usage: reference.py train|sample|image [--width N] ...")
    torch.manual_seed(0)
    torch.set_num_threads(arg("threads", 1))
    width, depth = arg("width", 64), arg("depth", 3)
    model = mlp(width, depth)
    info = {"side": "pytorch", "torch": torch.__version__, "threads": torch.get_num_threads(), "what": what,
            "width": width, "depth": depth}
    if what == "image":
        dim, classes, batch = arg("dim", 100), arg("classes", 10), arg("batch", 128)
        steps, warmup = arg("steps", 300), arg("warmup", 50)
        model = mlp(width, depth, d=dim, inputs=dim + 17 + classes + 1)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        n = 8000
        data = torch.randn(n, dim)
        labels = torch.randint(0, classes, (n,))
        k = torch.arange(1, 9, dtype=torch.float32) * math.pi

        def image_step():
            rows = torch.randint(0, n, (batch,))
            x1 = data[rows]
            x0 = torch.randn(batch, dim)
            t = torch.rand(batch, 1)
            c = torch.where(torch.rand(batch) < 0.2, torch.full((batch,), classes), labels[rows])
            onehot = torch.nn.functional.one_hot(c, classes + 1).float()
            features = torch.cat([t * x1 + (1 - t) * x0, t, torch.sin(k * t), torch.cos(k * t), onehot], 1)
            loss = ((model(features) - (x1 - x0)) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        info.update(dim=dim, classes=classes, batch=batch, steps=steps, msPerStep=ms_per_step(image_step, warmup, steps))
    elif what == "train":
        batch, steps, warmup = arg("batch", 256), arg("steps", 300), arg("warmup", 50)
        data = two_moons(2000)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)

        def step():
            x1 = data[torch.randint(0, data.shape[0], (batch,))]
            x0 = torch.randn(batch, 2)
            t = torch.rand(batch, 1)
            xt = t * x1 + (1 - t) * x0
            loss = ((model(torch.cat([xt, t], 1)) - (x1 - x0)) ** 2).sum(1).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()

        info.update(batch=batch, steps=steps, msPerStep=ms_per_step(step, warmup, steps))
    else:
        particles, euler_steps = arg("particles", 10000), arg("euler-steps", 100)

        def sample(n_steps):
            x = torch.randn(particles, 2)
            h = 1.0 / n_steps
            for k in range(n_steps):
                t = torch.full((particles, 1), k * h)
                x = x + h * model(torch.cat([x, t], 1))
            return x

        with torch.no_grad():
            for _ in range(arg("warmup", 3)):
                sample(euler_steps)
            start = time.perf_counter()
            sample(euler_steps)
            info.update(particles=particles, eulerSteps=euler_steps, seconds=time.perf_counter() - start)
    print(json.dumps(info))


if __name__ == "__main__":
    main()
