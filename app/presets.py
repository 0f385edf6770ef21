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
        "Radford's race on Beale from (1, −1), each optimizer at its own learning rate, every rate following one "
        "cosine decay to 0 at step 500. Adagrad (lr 0.4), Adadelta (lr 1.5, ρ 0.99, ε 1e-4) and RMSprop "
        "(lr 0.03) head straight for (3, 0.5): from step 50 on all three stay within 0.11 of it, while SGD, "
        "Momentum and NAG are still 0.4 or more away, and they end within 0.01. Momentum and NAG (lr 0.007, "
        "μ 0.9) roll past the minimum along their approach, Momentum further (0.52 against 0.38), and come back "
        "to end within 0.02; SGD (lr 0.015) ends last, 0.16 short.",
        "surface=beale&start=1,-1&steps=500&opt=sgd,momentum,nesterov,adagrad,adadelta,rmsprop&sgd.lr=0.015"
        "&momentum.lr=0.007&nesterov.lr=0.007&adagrad.lr=0.4&adadelta.lr=1.5&adadelta.rho=0.99&adadelta.eps=0.0001"
        "&rmsprop.lr=0.03&sched=cosine&sched.t_max=500",
    ),
    Preset(
        "saddle_escape", "The saddle escape",
        "Radford's saddle: a hair off the ridge of x² − y² (y = 0.001). Adadelta (torch's defaults), RMSprop "
        "(lr 0.01) and Adagrad (lr 0.1) divide the tiny slope by its own size and leave the frame at steps 39, 54 "
        "and 57; Momentum and NAG (lr 0.0025) ride up to the saddle, sit on it, then leave the frame at steps 212 "
        "and 206; SGD (lr 0.01) slides up to the saddle and is still in the frame after 300 steps, only 0.38 off "
        "the ridge.",
        "surface=saddle&start=-1.5,0.001&steps=300&opt=sgd,momentum,nesterov,adagrad,adadelta,rmsprop"
        "&sgd.lr=0.01&momentum.lr=0.0025&nesterov.lr=0.0025&adagrad.lr=0.1",
    ),
    Preset(
        "beale_race_defaults", "The Beale race at torch's defaults",
        "From (−1, −1.25), with every optimizer at torch.optim's defaults and no schedule, the race turns "
        "round: Momentum and NAG reach (3, 0.5) by step 450, while after 700 steps SGD (lr 0.001) is still 1 short, Adadelta 1.5 and "
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
    # One run per optimizer in a state: the constant-lr Adam is AdamW with weight_decay = 0, the same rule.
    Preset(
        "schedulefree_no_schedule", "Schedule-Free needs no schedule",
        "Noisy gradients (σ 0.5) on a bowl, all three at lr 0.1. Adam at that constant lr never settles: over its "
        "last 50 steps it jitters 0.14 from the minimum on average. A cosine decay to step 500 brings Adam within "
        "0.01 by the end, but it must know the run ends there, and until late it wanders nearly as much as the "
        "constant run (0.13 away on average over steps 200–300, against 0.16). Schedule-Free AdamW keeps lr 0.1 "
        "throughout and plots the average of its steps: 0.03 away over steps 200–300, and within 0.02 over the "
        "last 50, with no schedule at all. Other noise seeds tell the same story on average.",
        "surface=quadratic&start=-1.8,1&steps=500&opt=adamw,adam,schedulefree_adamw&adamw.lr=0.1"
        "&adamw.weight_decay=0&adamw.label=Adam%20(constant%20lr)&adam.lr=0.1&adam.label=Adam%20(cosine%20decay)"
        "&adam.sched=cosine&adam.sched.t_max=500&schedulefree_adamw.lr=0.1&noise=0.5&noise_seed=0",
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
    # The modern and second-order optimizers; tests/test_presets.py checks each clause.
    Preset(
        "newton_lbfgs", "Newton: one step; L-BFGS: a few",
        "Newton in one step, L-BFGS in a few, on a quadratic. On the bowl ½(x² + 10y²) Newton's first step lands exactly on the minimum: its quadratic model is the "
        "function itself. L-BFGS (lr 1, strong-Wolfe line search) starts with a small gradient step and learns the "
        "curvature from its own steps: within 0.002 of the minimum by step 5 and 3e-5 by step 7, where its loss stops "
        "changing by more than tolerance_change and it stands still. SGD at lr 0.15 (2/10 is the stable limit) is "
        "still 0.014 away after 30 steps, Adam at lr 0.1 0.26.",
        "surface=quadratic&start=-1.8,1&steps=30&opt=newton,lbfgs,sgd,adam&lbfgs.max_eval=25&lbfgs.line_search=1"
        "&sgd.lr=0.15&adam.lr=0.1",
    ),
    Preset(
        "sam_flat", "SAM prefers the flat minimum",
        "Two minima of the same depth: a narrow one at (−1, 0) and a wide one at (1, 0). From (−1.6, 0.8) SGD "
        "(lr 0.1) falls into the narrow one, within 0.05 of it by step 49. SAM (lr 0.1, ρ 0.2) takes each gradient "
        "ρ uphill of its point (the diamonds): beside the narrow well that gradient is steep and pushes it away, so "
        "it never comes nearer than 0.5 to the narrow minimum, and it settles within 0.05 of the wide one by step 185.",
        "surface=sharp_flat&start=-1.6,0.8&steps=300&opt=sgd,sam&sgd.lr=0.1&sam.lr=0.1&sam.rho=0.2&extras=1",
    ),
    Preset(
        "muon_vector", "Muon is normalized momentum",
        "On a vector, Muon is normalized momentum. Muon orthogonalizes its Nesterov-momentum update. The point (x, y) is a 1×2 matrix with a single singular "
        "value, so orthogonalizing only normalizes it: every Muon step is 0.68–0.72 × lr long (Newton–Schulz in "
        "bfloat16 maps the unit singular value to about 0.7), pointing where SGD with Nesterov momentum points. "
        "Nesterov's steps shrink with the gradient and it settles within 0.01 of the minimum by step 140; Muon's "
        "never shrink, so without a decaying lr it keeps stepping about 0.014 across the minimum to the end.",
        "surface=quadratic&start=-1.8,1&steps=300&opt=muon,nesterov&muon.lr=0.02&muon.weight_decay=0"
        "&nesterov.lr=0.02&nesterov.momentum=0.95",
    ),
    Preset(
        "rotated_valley", "Which way does the valley point?",
        "Does your optimizer care which way the valley points? The κ = 10 valley turned by 30°, and the start (−1.5, 1) turned with it. Set the angle to 0 and the start "
        "to (−1.5, 1): SGD's, Shampoo's and Newton's paths are these, turned back by 30°, because their steps do "
        "not depend on the axes. Adam's changes shape: it scales x and y each on its own, and the turned valley's "
        "axes are not x and y.",
        "surface=rotated_quadratic&surface.angle=30&start=-1.79903811,0.1160254&steps=100&opt=sgd,adam,shampoo,newton"
        "&sgd.lr=0.15&adam.lr=0.05&shampoo.lr=0.1",
    ),
    # A small real network (surface=network): a 2-16-16-2 tanh MLP on 200 points, full batch, the same initial
    # weights for every run. tests/test_network_presets.py checks every number these questions state on the
    # runs core trains from each preset's own link.
    Preset(
        "net_spirals_adam_sgd", "Adam vs SGD on spirals",
        "A network learns two interleaved spirals. Both runs start at loss 0.70, about ln 2, a coin toss. After 500 "
        "steps SGD (lr 0.1) is still at 0.66 and classifies 125 of the 200 points right: its weights have moved 0.76 "
        "from where they started. Adam (lr 0.01) ends at 0.11 with 190 right, 24 away from its start: it scales "
        "each weight's step by that weight's own gradient history, so the small gradients of the start do not "
        "hold it back. Watch the decision regions wind round with the data.",
        "surface=network&steps=500&opt=sgd,adam&sgd.lr=0.1&adam.lr=0.01&net.data=spirals",
    ),
    Preset(
        "net_momentum_flat", "Does momentum end in a flatter place?",
        "Sharpness here is the largest eigenvalue of the loss's Hessian over all 200 points: 1.6 at the start. At "
        "the same lr 0.1, Momentum (μ 0.9) ends at loss 0.001 where the sharpness is 0.58, SGD at loss 0.18 on a "
        "slope 4.1 sharp. But Momentum's steps are up to ten times as long: give SGD lr 0.5 and Momentum lr 0.05, "
        "the same effective step lr/(1 − μ), and both end at loss 0.003 with sharpness 1.3 (1.27 and 1.25). The "
        "flatter end came from the longer steps, not from momentum itself.",
        "surface=network&steps=500&opt=sgd,momentum&sgd.lr=0.1&momentum.lr=0.1",
    ),
    Preset(
        "net_torch_defaults", "The same race at torch's defaults",
        "Six optimizers at torch.optim's defaults train the network on the two moons from loss 0.70. RMSprop (lr "
        "0.01) is below 0.35 by step 4 and below 0.02 by step 88, and ends at 0.0004 with every point right. "
        "Adagrad (lr 0.01) and Adam (lr 0.001) end at 0.14 and 0.12; Momentum and NAG (lr 0.001, μ 0.9) drop "
        "below 0.35 only after step 425 and end at 0.33; SGD (lr 0.001) ends at 0.63, hardly started. Defaults are starting "
        "points, not tuned rates: the first network preset gives each optimizer its own lr.",
        "surface=network&steps=500&opt=sgd,momentum,nesterov,rmsprop,adagrad,adam",
    ),
)
