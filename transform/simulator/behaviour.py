"""How users act: true action probabilities from the hidden latents, and labels drawn from them.

Every impression's true probability of each action (`true_probabilities`, formulas in its
docstring) depends on the user's and pin's latents, the user's affinity to the pin's topic,
the pin type, device, user state, slot, pin age and hour; labels are drawn from those
probabilities with correlated actions (`draw_labels`). The effects per pin type (T_*),
device (D_*), user state (S_*) and country are the constants below.
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
from scipy.special import ndtr

from transform.simulator.world import VIDEO, World, affinity, interest

SIMULATED_TASKS = ("closeup", "click", "long_click", "save", "hide", "video_watch")

# Per user state (new, casual, core): established users save more and hide less.
_STATE_SAVE = np.array([-0.4, 0.0, 0.4])
_STATE_HIDE = np.array([0.3, 0.0, -0.2])
# Per pin type (image, video, product, idea): products get clicks, ideas get saves.
_TYPE_CLOSEUP = np.array([0.0, -0.3, 0.1, 0.3])
_TYPE_CLICK = np.array([0.0, -0.6, 1.0, -0.4])
_TYPE_LONG_CLICK = np.array([0.0, -0.2, -0.3, 0.4])
_TYPE_SAVE = np.array([0.0, -0.5, 0.2, 1.0])
_TYPE_HIDE = np.array([0.0, 0.2, 0.3, -0.1])
# Per device (ios, android, web): big screens click out, phones watch videos.
_DEVICE_CLOSEUP = np.array([0.1, 0.0, -0.2])
_DEVICE_CLICK = np.array([0.0, -0.1, 0.3])
_DEVICE_VIDEO = np.array([0.2, 0.2, -0.6])
_COUNTRY_ENGAGEMENT = np.array([0.0, 0.2, -0.05, -0.15, -0.1, 0.15, 0.0, -0.3, 0.1, 0.0])
_LABEL_CORRELATION = 0.5      # weight of the shared per-impression normal in every label


@dataclasses.dataclass(frozen=True)
class _Latents:
    """Per-impression inputs of the true probabilities, observed and hidden."""

    affinity: np.ndarray
    interest: np.ndarray
    quality: np.ndarray
    clickbait: np.ndarray
    watchability: np.ndarray
    engagement: np.ndarray
    hide_propensity: np.ndarray
    video_affinity: np.ndarray
    log_slot: np.ndarray
    log_age: np.ndarray
    hour_cycle: np.ndarray
    pin_type: np.ndarray
    state: np.ndarray
    device: np.ndarray


def _latents(world: World, rows: dict) -> _Latents:
    """Looks up the user and pin latents of each impression and transforms slot, age, hour."""
    users, pins, user, pin = world.users, world.pins, rows["user"], rows["pin"]
    return _Latents(
        affinity=affinity(world, user, pin),
        interest=interest(world, user, pin),
        quality=pins.quality[pin],
        clickbait=pins.clickbait[pin],
        watchability=pins.watchability[pin],
        engagement=users.engagement[user] + _COUNTRY_ENGAGEMENT[users.country[user]],
        hide_propensity=users.hide_propensity[user],
        video_affinity=users.video_affinity[user],
        log_slot=np.log1p(rows["slot"]),
        log_age=np.log1p(rows["age_days"]),
        hour_cycle=np.cos(2 * np.pi * (rows["hour"] - 21) / 24),
        pin_type=pins.pin_type[pin],
        state=users.state[user],
        device=users.device[user],
    )


def true_probabilities(world: World, rows: dict) -> dict[str, np.ndarray]:
    """True probability of every action of each impression, rounded to float32.

    Notation: a topic affinity and i = g * a interest (`world.affinity`, `world.interest`),
    q pin quality, b pin clickbait, w video watchability, e user engagement (+ country
    offset), r user hide propensity, v user video affinity, s slot, A = log1p(pin age in
    days), c = cos(2 pi (hour - 21) / 24); T_*, D_*, S_* are the per pin type, device and
    user state effects defined at the top of the module.

      closeup     = sigmoid(-3.25 + i + 0.5 q + 0.2 a q + T_closeup + D_closeup + e
                            - 0.3 log1p(s) - 0.1 (A - 3) + 0.15 c)
      click       = sigmoid(-3.8 + 0.8 i + 0.4 q + 0.6 b + T_click + D_click + e
                            - 0.35 log1p(s) + 0.1 c)
      long_click  = click * sigmoid(-1.4 + 0.3 i + 0.9 q - 1.0 b + T_long_click)
      save        = sigmoid(-5.8 + 1.2 i + 0.6 q + T_save + S_save + e
                            - 0.25 log1p(s) - 0.06 (A - 4)^2)
      hide        = sigmoid(-6.6 + softplus(-2 i) - 0.6 q + 0.7 b + T_hide + S_hide + r)
      video_watch = sigmoid(-1.5 + 1.4 w + 0.8 v + 0.25 i + 0.2 q + D_video
                            - 0.15 log1p(s) + 0.2 c)   on video pins, 0 elsewhere

    Rounding to float32 (the truth columns' type) means labels are drawn from exactly the
    probabilities written; float rounding is monotone, so long_click <= click still holds.
    """
    x = _latents(world, rows)
    long_given_click = _sigmoid(
        -1.4 + 0.3 * x.interest + 0.9 * x.quality - 1.0 * x.clickbait + _TYPE_LONG_CLICK[x.pin_type]
    )
    probabilities = {
        "closeup": _sigmoid(_closeup_logit(x)),
        "click": _sigmoid(_click_logit(x)),
        "save": _sigmoid(_save_logit(x)),
        "hide": _sigmoid(_hide_logit(x)),
        "video_watch": np.where(x.pin_type == VIDEO, _sigmoid(_video_watch_logit(x)), 0.0),
    }
    probabilities["long_click"] = probabilities["click"] * long_given_click
    return {task: probabilities[task].astype(np.float32) for task in SIMULATED_TASKS}


def _closeup_logit(x: _Latents) -> np.ndarray:
    return (
        -3.25 + x.interest + 0.5 * x.quality + 0.2 * x.affinity * x.quality + _TYPE_CLOSEUP[x.pin_type]
        + _DEVICE_CLOSEUP[x.device] + x.engagement - 0.3 * x.log_slot - 0.1 * (x.log_age - 3.0)
        + 0.15 * x.hour_cycle
    )


def _click_logit(x: _Latents) -> np.ndarray:
    return (
        -3.8 + 0.8 * x.interest + 0.4 * x.quality + 0.6 * x.clickbait + _TYPE_CLICK[x.pin_type]
        + _DEVICE_CLICK[x.device] + x.engagement - 0.35 * x.log_slot + 0.1 * x.hour_cycle
    )


def _save_logit(x: _Latents) -> np.ndarray:
    return (
        -5.8 + 1.2 * x.interest + 0.6 * x.quality + _TYPE_SAVE[x.pin_type] + _STATE_SAVE[x.state]
        + x.engagement - 0.25 * x.log_slot - 0.06 * (x.log_age - 4.0) ** 2
    )


def _hide_logit(x: _Latents) -> np.ndarray:
    return (
        -6.6 + np.logaddexp(0.0, -2.0 * x.interest) - 0.6 * x.quality + 0.7 * x.clickbait
        + _TYPE_HIDE[x.pin_type] + _STATE_HIDE[x.state] + x.hide_propensity
    )


def _video_watch_logit(x: _Latents) -> np.ndarray:
    return (
        -1.5 + 1.4 * x.watchability + 0.8 * x.video_affinity + 0.25 * x.interest + 0.2 * x.quality
        + _DEVICE_VIDEO[x.device] - 0.15 * x.log_slot + 0.2 * x.hour_cycle
    )


def _sigmoid(logit: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-logit))


def draw_labels(rng, probabilities: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """0/1 labels with correlated actions and exact marginals (a Gaussian copula).

    One shared standard normal z per impression: u_k = Phi(rho z + sqrt(1 - rho^2) eps_k)
    is uniform, so label_k = [u_k < p_k] has probability exactly p_k, while actions of the
    same impression are positively correlated (hide uses -z: anti-correlated). long_click
    reuses click's u with p_long_click <= p_click, so long_click = 1 implies click = 1.
    """
    n = len(probabilities["click"])
    shared = rng.standard_normal(n)
    rho = _LABEL_CORRELATION

    def uniform(sign: float) -> np.ndarray:
        return ndtr(sign * rho * shared + math.sqrt(1 - rho**2) * rng.standard_normal(n))

    draws = {
        "closeup": uniform(1.0),
        "click": uniform(1.0),
        "save": uniform(1.0),
        "hide": uniform(-1.0),
        "video_watch": uniform(1.0),
    }
    draws["long_click"] = draws["click"]
    return {task: (draws[task] < probabilities[task]).astype(np.int64) for task in SIMULATED_TASKS}
