"""Presets: the classic figures and questions, each a shareable URL state.

A preset is only a title, the question it answers and a query string in the
page's URL format, so opening a preset is the same as opening a shared link.
The first preset is what the page shows when its URL holds no state.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Preset:
    id: str
    title: str
    question: str
    query: str

    def as_dict(self) -> dict:
        return {"id": self.id, "title": self.title, "question": self.question, "query": self.query}


PRESETS: tuple[Preset, ...] = (
    # The two figures by Alec Radford that the CS231n notes reuse, with their six optimizers (NAG is
    # Nesterov). Each optimizer has its own learning rate, as in the originals; tests/test_presets.py
    # checks every behaviour these questions state on the computed trajectories.
    Preset(
        "beale_race", "The Beale contour race",
        "Radford's race on Beale from (−1, −1.25), each optimizer at its own learning rate. Adagrad (lr 1.2), "
        "Adadelta (lr 0.04, ρ 0.95, ε 0.3) and RMSprop (lr 0.05, α 0.9) head for (3, 0.5) at once and settle "
        "within 0.1 of it by step 300; SGD (lr 0.0025) finds the direction but trails them all the way and is "
        "still 0.4 short after 700 steps; Momentum and NAG (lr 0.0023, μ 0.9) roll past the minimum, Momentum "
        "about twice as far, then come back.",
        "surface=beale&start=-1,-1.25&steps=700&opt=sgd,momentum,nesterov,adagrad,adadelta,rmsprop"
        "&sgd.lr=0.0025&momentum.lr=0.0023&nesterov.lr=0.0023&adagrad.lr=1.2&adadelta.lr=0.04&adadelta.rho=0.95"
        "&adadelta.eps=0.3&rmsprop.lr=0.05&rmsprop.alpha=0.9",
    ),
    Preset(
        "saddle_escape", "The saddle escape",
        "Radford's saddle: a hair off the ridge of x² − y² (y = 0.001). SGD (lr 0.01) slides up to the saddle and "
        "never gets away; Momentum and NAG (lr 0.0025) are held there too, then escape after step 150; Adagrad (lr 0.1), "
        "RMSprop (lr 0.01) and Adadelta (torch's defaults) divide the tiny slope by its own size and are gone "
        "by step 40.",
        "surface=saddle&start=-1.5,0.001&steps=300&opt=sgd,momentum,nesterov,adagrad,adadelta,rmsprop"
        "&sgd.lr=0.01&momentum.lr=0.0025&nesterov.lr=0.0025&adagrad.lr=0.1",
    ),
    Preset(
        "beale_race_defaults", "The Beale race at torch's defaults",
        "The same start with every optimizer at torch.optim's defaults, and the race turns round: Momentum and "
        "NAG reach (3, 0.5) by step 450, while after 700 steps SGD (lr 0.001) is still 1 short, Adadelta 1.5 and "
        "Adagrad 3.8; RMSprop comes closest (0.3). The adaptive methods step a fixed size per coordinate "
        "whatever the slope: Adagrad exactly lr = 0.01 at first and ever less, RMSprop at most "
        "lr/√(1−α) = 0.1, Adadelta √ε/√(1−ρ) ≈ 0.003 at first. Defaults tuned for networks are far too small "
        "for a surface a few units wide; the first preset gives each optimizer its own lr.",
        "surface=beale&start=-1,-1.25&steps=700&opt=sgd,momentum,nesterov,adagrad,adadelta,rmsprop",
    ),
    Preset(
        "rosenbrock_valley", "The Rosenbrock valley",
        "The valley is easy to find and slow to follow: which optimizers make it along the curve to (1, 1)?",
        "surface=rosenbrock&start=-1.2,1&steps=1000&opt=sgd,momentum,nesterov,rmsprop,adam"
        "&rmsprop.lr=0.002&adam.lr=0.02",
    ),
    # The state holds one run per optimizer, so the second Adam is AdamW with
    # weight_decay = 0, which is the same update rule step for step, under a label of its own.
    Preset(
        "adam_eps", "Adam with ε = 1e-8 vs ε = 1",
        "Near a saddle the gradients are tiny: with ε = 1 Adam loses its adaptivity and creeps like SGD, "
        "while ε = 1e-8 escapes. (The ε = 1 run is AdamW with λ = 0, the same rule, so both can be drawn.)",
        "surface=saddle&start=-1.5,0.001&steps=300&opt=adam,adamw&adam.lr=0.01&adam.label=Adam%20(%CE%B5%20%3D%201e-8)"
        "&adamw.lr=0.01&adamw.eps=1&adamw.weight_decay=0&adamw.label=Adam%20(%CE%B5%20%3D%201)&inspect=adamw",
    ),
    Preset(
        "torch_vs_tf_adam", "PyTorch Adam vs TensorFlow Adam",
        "Same name, same ε = 1, different paths: TensorFlow adds its ε̂ before bias correction, so early steps differ.",
        "surface=quadratic&start=-1.8,1&steps=300&opt=adam,adam_tf&adam.lr=0.01&adam.eps=1&adam_tf.lr=0.01&adam_tf.eps=1",
    ),
    Preset(
        "momentum_overshoot", "Momentum overshoot",
        "On an elongated bowl a heavy ball with μ = 0.9 swings past the minimum and back; Nesterov's look-ahead damps it.",
        "surface=quadratic&surface.kappa=20&start=-1.8,1&steps=200&opt=sgd,momentum,nesterov"
        "&sgd.lr=0.04&momentum.lr=0.04&nesterov.lr=0.04",
    ),
    Preset(
        "adam_lr_decay", "Does Adam decay my learning rate?",
        "No: the learning rate applied stays constant. Watch the inspector: the bias-corrected step size grows "
        "towards lr, and the per-coordinate effective step is what adapts.",
        "surface=beale&start=0.7,1.4&steps=500&opt=adam&adam.lr=0.05&inspect=adam",
    ),
    # The map, basins and tuning presets.
    Preset(
        "momentum_map", "Where does momentum help? (lr × momentum on the ill-conditioned quadratic)",
        "Each cell of the map is one run on a bowl 100 times steeper across than along; bright cells converge. "
        "Momentum widens the band of learning rates that do: click a cell on the bright band's right edge to watch "
        "that run oscillate its way in.",
        "surface=quadratic&surface.kappa=100&start=-1.8,1&steps=300&opt=momentum&momentum.lr=0.02&view=map"
        "&map.opt=momentum&map.x=lr&map.y=momentum&map.xr=0.0001,1",
    ),
    Preset(
        "himmelblau_basins", "Himmelblau's basins",
        "Which of the four minima does a run end in, from each start? Each colour is one minimum's basin: SGD's are "
        "four tidy regions, momentum's overshoot into each other. Switch the map's optimizer to compare; click a "
        "start to run it on the contour, which shows momentum's basins under the runs.",
        "surface=himmelblau&start=0,0&steps=500&opt=sgd,momentum&sgd.lr=0.01&momentum.lr=0.01&view=map"
        "&map.opt=momentum&map.x=x&map.y=y&map.color=basin&basins=momentum",
    ),
    Preset(
        "adam_or_tuning", "Is Adam faster, or just better tuned?",
        "With the learning rates people often reach for, Adam gets there first and SGD never does. Press “Tune lr” "
        "to give each optimizer its best lr on this very problem, then watch the race again.",
        "surface=quadratic&start=-1.8,1&steps=200&opt=sgd,momentum,adam&sgd.lr=0.01&momentum.lr=0.01&adam.lr=0.05",
    ),
)
