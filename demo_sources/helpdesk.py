"""Zendesk-like helpdesk: users, tickets and satisfaction ratings; and the NPS answers of its users.

Satisfaction ratings are Zendesk's legacy CSAT (`GET /api/v2/satisfaction_ratings`): the world's
CSAT answers (1-5) after solved tickets become `good` (4-5) or `bad` (1-3) ratings, so the CSAT share
is the same; solved tickets whose rating was offered and never answered are listed as `offered`. The
NPS answers (world key `nps/responses`) are no helpdesk resource (Zendesk has no NPS): they are rows
of a survey tool's CSV export, which `nps_export` writes into the pipeline's import folder.

The helpdesk part of the demo sources: `HelpdeskWorld` builds its tables from the persons (and
the other systems' tables), renders its rows in the API's record shapes and simulates its daily
events; `HelpdeskApi` answers its HTTP endpoints from the records the server stores.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import urlencode

import numpy as np
import orjson

from . import names as N
from .api import HOLDBACK_US, ApiError, Response, _b64, _int_param, _unb64
from .core import (CHANNELS, DAY, Day, HOUR, ORDER_SUBJECTS, RATINGS, SUBJECTS, SUBJECT_TAG, TICKET_STATUS,
                   _cluster, _person_ids, _rng, _segments, _sort_table)
from .timefmt import hd_ts


class HelpdeskWorld:
    """The helpdesk tables and records of a `world.GeneratedWorld` (a mixin of it)."""

    def _build_helpdesk(self, rng, hd: np.ndarray) -> None:
        O, U, nu = self._build_helpdesk_users(rng, hd)
        Tk, deleted, nt, solved = self._build_helpdesk_tickets(rng, nu, U, O)
        S = self._build_helpdesk_surveys(rng, nu, U, solved, deleted, nt, Tk)
        self._hold_back_recent_changes(rng, Tk, U, S)
        self._split_surveys(S, Tk, solved, deleted)

    def _build_helpdesk_users(self, rng, hd):
        """Helpdesk users: callers and writers among the persons."""
        P, r, now = self.P, self.dirt, self.now_s
        O = self.T["shop/orders"]
        h_p = np.flatnonzero(hd)
        nu0 = len(h_p)
        created = P["t0"][h_p] + (rng.random(nu0) ** 2 * (now - 3 * DAY - P["t0"][h_p])).astype(np.int64)
        U = dict(p=h_p, created=np.maximum(created, self.start_s))
        _sort_table(U, U["created"])
        nu = nu0
        U["id"] = 3_800_000 + np.arange(nu) * 13 + rng.integers(0, 13, nu)
        crow = self._cust_row_of_person[U["p"]]
        U["ext"] = np.where((crow >= 0) & (rng.random(nu) < 0.45), crow, -1)
        U["form"] = np.where(rng.random(nu) < 0.25, 1, 0).astype(np.int8)
        U["active"] = rng.random(nu) >= r.soft_deletes
        U["idn"] = self._identity(U["p"], rng, "helpdesk")
        return O, U, nu

    def _build_helpdesk_tickets(self, rng, nu, U, O):
        """Tickets: the order an order-related ticket is about, status, rating and change marker."""
        r, now = self.dirt, self.now_s
        # tickets
        k = 1 + rng.poisson(0.7, nu)
        t_u, _ = _segments(k)
        tt = U["created"][t_u] + (rng.random(len(t_u)) * (now - 120 - U["created"][t_u])).astype(np.int64)
        tt[np.r_[0, np.cumsum(k)[:-1]]] = U["created"] + rng.integers(10, 600, nu)  # first ticket creates the user
        Tk = dict(u=t_u, t=np.minimum(tt, now - 120))
        _sort_table(Tk, Tk["t"])
        nt = len(Tk["t"])
        Tk["id"] = np.arange(1, nt + 1)
        Tk["subject"] = rng.integers(0, len(SUBJECTS), nt)
        Tk["channel"] = rng.choice(4, nt, p=[0.35, 0.35, 0.15, 0.15]).astype(np.int8)
        # the order an order-related ticket is about: the requester's last shop order before the ticket
        tp = U["p"][Tk["u"]]
        okey = O["p"].astype(np.int64) * (1 << 36) + (O["t"] - self.start_s + DAY)
        oord = np.argsort(okey, kind="stable")
        okey_s = okey[oord]
        tkey = tp.astype(np.int64) * (1 << 36) + (Tk["t"] - self.start_s + DAY)
        pos = np.searchsorted(okey_s, tkey, side="right") - 1
        ok = pos >= 0
        ok[ok] = (okey_s[pos[ok]] >> 36) == tp[ok]
        about = np.where(ok & ORDER_SUBJECTS[Tk["subject"]] & (rng.random(nt) < 0.75), oord[np.maximum(pos, 0)], -1)
        Tk["order"] = about
        Tk["cf_fmt"] = rng.integers(0, 6, nt)
        age = now - Tk["t"]
        u01 = rng.random(nt)
        status = np.where(age > 10 * DAY, np.select([u01 < 0.75, u01 < 0.95, u01 < 0.98], [4, 3, 2], 1),
                          np.where(age > 2 * DAY, np.select([u01 < 0.5, u01 < 0.7, u01 < 0.95], [3, 2, 1], 0),
                                   np.select([u01 < 0.4, u01 < 0.8, u01 < 0.9], [0, 1, 2], 3)))
        solved_t = Tk["t"] + rng.integers(HOUR, 5 * DAY, nt)
        solved_t = np.minimum(solved_t, now - 90)
        solved = (status == 3) | (status == 4)
        Tk["solved_t"] = np.where(solved, solved_t, -1)
        closed_t = np.minimum(solved_t + 4 * DAY, now - 90)
        deleted = rng.random(nt) < r.soft_deletes
        status[deleted] = 5
        Tk["status"] = status.astype(np.int8)
        v = rng.random(nt)
        rating = np.where(solved, np.select([v < 0.15, v < 0.45, v < 0.85], [0, 1, 2], 3), 0)
        Tk["rating"] = rating.astype(np.int8)
        upd = np.maximum.reduce([Tk["t"] + rng.integers(30, 3 * HOUR, nt), np.where(solved, solved_t, 0),
                                 np.where(status == 4, closed_t, 0)])
        upd = np.where(deleted, upd + (rng.random(nt) * (now - 90 - upd)).astype(np.int64), upd)
        again = rng.random(nt) < r.updated_again * 0.2
        upd = np.where(again, upd + (rng.random(nt) * (now - 90 - upd)).astype(np.int64), upd)
        Tk["upd"] = np.maximum(np.minimum(upd, now - 90), Tk["t"])
        return Tk, deleted, nt, solved

    def _build_helpdesk_surveys(self, rng, nu, U, solved, deleted, nt, Tk):
        """The users change marker (with a bulk import cluster) and the surveys: CSAT after solved tickets,
        NPS independently."""
        r, now = self.dirt, self.now_s
        # user change marker, bulk import cluster
        again = rng.random(nu) < r.updated_again
        uupd = U["created"] + np.where(again, (rng.random(nu) * (now - 90 - U["created"])).astype(np.int64),
                                       rng.integers(0, 3, nu))
        uupd, _ = _cluster(rng, U["created"], uupd, 1250, r.same_timestamp_clusters, now)
        U["upd"] = np.maximum(uupd, U["created"])
        # surveys: CSAT after solved tickets, NPS independently
        cs = np.flatnonzero(solved & ~deleted & (rng.random(nt) < 0.35))
        nps_u = np.flatnonzero(rng.random(nu) < 0.2)
        cs_t = np.minimum(Tk["solved_t"][cs] + rng.integers(HOUR, 2 * DAY, len(cs)), now - 90)
        nps_t = U["created"][nps_u] + (rng.random(len(nps_u)) * (now - 90 - U["created"][nps_u])).astype(np.int64)
        rt = Tk["rating"][cs]
        cs_score = np.where(rt == 2, 4 + (rng.random(len(cs)) < 0.6), np.where(rt == 3, 1 + (rng.random(len(cs)) < 0.4),
                                                                             rng.choice(5, len(cs), p=[0.08, 0.1, 0.17, 0.35, 0.3]) + 1))
        nps_score = rng.choice(11, len(nps_u), p=[0.03, 0.02, 0.03, 0.03, 0.04, 0.07, 0.08, 0.14, 0.2, 0.18, 0.18])
        S = dict(type=np.concatenate([np.zeros(len(cs), np.int8), np.ones(len(nps_u), np.int8)]),
                 ticket=np.concatenate([cs, np.full(len(nps_u), -1)]),
                 u=np.concatenate([Tk["u"][cs], nps_u]),
                 score=np.concatenate([cs_score, nps_score]).astype(np.int64),
                 t=np.concatenate([cs_t, nps_t]))
        _sort_table(S, S["t"])
        ns = len(S["t"])
        S["id"] = np.arange(1, ns + 1)
        S["comment"] = np.where(rng.random(ns) < 0.25, rng.integers(0, 4, ns), -1)
        S["upd"] = S["t"] + np.where(rng.random(ns) < 0.05, rng.integers(60, DAY, ns), 0)
        S["upd"] = np.minimum(S["upd"], now - 90)
        S["upd"] = np.maximum(S["upd"], S["t"])
        return S

    def _hold_back_recent_changes(self, rng, Tk, U, S):
        """A few records changed within the last 60 seconds: the API holds them back."""
        now = self.now_s
        # a few records changed within the last 60 seconds: the API holds them back
        for tbl, col, cnt in ((Tk, "upd", 3), (U, "upd", 2), (S, "upd", 1)):
            m = len(tbl[col])
            if m:
                pick = rng.choice(m, min(cnt, m), replace=False)
                tbl[col][pick] = now - rng.integers(5, 55, len(pick))
        self.T["helpdesk/users"] = U
        self.T["helpdesk/tickets"] = Tk
        self.T["nps/responses"] = S

    def _split_surveys(self, S, Tk, solved, deleted) -> None:
        """CSAT answers become satisfaction ratings (with `offered` ones for unanswered offered surveys);
        the NPS answers become the rows of the survey tool's export. No random draws: the world stays as it was."""
        now = self.now_s
        csat, nps = S["type"] == 0, S["type"] == 1
        self.T["nps/responses"] = {k: v[nps] for k, v in S.items()}
        answered = np.zeros(len(Tk["t"]), bool)
        answered[S["ticket"][csat]] = True
        offered = np.flatnonzero(solved & ~deleted & (Tk["rating"] == RATINGS.index("offered")) & ~answered)
        off_t = np.minimum(Tk["solved_t"][offered] + HOUR, now - 90)
        R = dict(ticket=np.concatenate([S["ticket"][csat], offered]),
                 u=np.concatenate([S["u"][csat], Tk["u"][offered]]),
                 # 0 offered, 1 good (CSAT 4-5), 2 bad (CSAT 1-3)
                 score=np.concatenate([np.where(S["score"][csat] >= 4, 1, 2), np.zeros(len(offered), np.int64)]),
                 comment=np.concatenate([S["comment"][csat], np.full(len(offered), -1)]),
                 t=np.concatenate([S["t"][csat], off_t]),
                 upd=np.concatenate([S["upd"][csat], off_t]))
        _sort_table(R, R["t"])
        R["id"] = RATING_ID0 + np.arange(len(R["t"]), dtype=np.int64) * 7
        self.T["helpdesk/satisfaction_ratings"] = R

    def _r_users(self, a: int, b: int) -> list[dict]:
        U, C = self.T["helpdesk/users"], self.T["shop/customers"]
        s = slice(a, b)
        idn = {k: v[s] for k, v in U["idn"].items()}
        created, updated = hd_ts(U["created"][s]), hd_ts(U["upd"][s])
        cids = C["id"]
        out = []
        for i, (uid, ext, form, active) in enumerate(zip(U["id"][s].tolist(), U["ext"][s].tolist(),
                                                         U["form"][s].tolist(), U["active"][s].tolist())):
            f, l = idn["first"][i], idn["last"][i]
            if idn["is_company"][i] and i % 2:
                name = idn["company"][i]
            elif form == 1 and not f.endswith("."):
                name = f"{l}, {f}"
            else:
                name = f"{f} {l}"
            out.append({"id": uid, "name": name, "email": idn["email"][i], "phone": idn["mobile"][i] or idn["land"][i],
                        "external_id": str(int(cids[ext])) if ext >= 0 else None, "role": "end-user",
                        "active": active, "created_at": created[i], "updated_at": updated[i]})
        return out

    def _r_tickets(self, a: int, b: int) -> list[dict]:
        Tk, U, O = self.T["helpdesk/tickets"], self.T["helpdesk/users"], self.T["shop/orders"]
        s = slice(a, b)
        created, updated, solved = hd_ts(Tk["t"][s]), hd_ts(Tk["upd"][s]), hd_ts(Tk["solved_t"][s])
        uids = U["id"]
        out = []
        for i, (tid, u, subj, ch, st, rating, orow, fmt) in enumerate(zip(
                Tk["id"][s].tolist(), Tk["u"][s].tolist(), Tk["subject"][s].tolist(), Tk["channel"][s].tolist(),
                Tk["status"][s].tolist(), Tk["rating"][s].tolist(), Tk["order"][s].tolist(), Tk["cf_fmt"][s].tolist())):
            subject = SUBJECTS[subj]
            value = None
            if orow >= 0:
                nb = int(O["number"][orow])
                value = (f"Bestellung {nb}, {subject}", f"Best.-Nr. #{nb}", f"{subject} - Auftrag #{nb}",
                         f"order {nb}", f"Bestellnr {nb}", f"Kd. fragt nach Bestellung #{nb}")[fmt]
            tags = [SUBJECT_TAG[subj]]
            if CHANNELS[ch] == "voice":
                tags.append("anruf")
            out.append({"id": tid, "requester_id": int(uids[u]), "subject": subject, "via": {"channel": CHANNELS[ch]},
                        "status": TICKET_STATUS[st], "created_at": created[i], "updated_at": updated[i],
                        "solved_at": solved[i], "custom_fields": [{"id": 360001, "value": value}],
                        "satisfaction_rating": {"score": RATINGS[rating]}, "tags": tags})
        return out

    def _r_satisfaction_ratings(self, a: int, b: int) -> list[dict]:
        R, U, Tk = self.T["helpdesk/satisfaction_ratings"], self.T["helpdesk/users"], self.T["helpdesk/tickets"]
        s = slice(a, b)
        created, updated = hd_ts(R["t"][s]), hd_ts(R["upd"][s])
        uids, tids = U["id"], Tk["id"]
        out = []
        for i, (rid, tk, u, score, com) in enumerate(zip(R["id"][s].tolist(), R["ticket"][s].tolist(), R["u"][s].tolist(),
                                                        R["score"][s].tolist(), R["comment"][s].tolist())):
            out.append(rating_record(rid, int(tids[tk]), int(uids[u]), RATING_SCORES[score],
                                     None if com < 0 else (N.SURVEY_COMMENTS_GOOD if score == 1 else N.SURVEY_COMMENTS_BAD)[com],
                                     created[i], updated[i]))
        return out

    def _respondent(self, urow: int) -> tuple[str | None, str | None]:
        """(e-mail, shop customer id) the survey tool knows a helpdesk user by: the e-mail the helpdesk holds,
        else the person's own address (the survey went somewhere), and the user's external id, which is
        their shop customer id."""
        U = self.T["helpdesk/users"]
        email = U["idn"]["email"][urow] or self.P["email"][U["p"][urow]]
        ext = int(U["ext"][urow])
        return email, str(int(self.T["shop/customers"]["id"][ext])) if ext >= 0 else None

    def _r_responses(self, a: int, b: int) -> list[dict]:
        """NPS answers as rows of the survey tool's export (`nps_export.COLUMNS`, `id` the response id)."""
        S = self.T["nps/responses"]
        s = slice(a, b)
        responded = hd_ts(S["t"][s])
        out = []
        for i, (sid, u, score, com) in enumerate(zip(S["id"][s].tolist(), S["u"][s].tolist(), S["score"][s].tolist(),
                                                    S["comment"][s].tolist())):
            comment = None if com < 0 else (N.SURVEY_COMMENTS_GOOD if score >= 9 else N.SURVEY_COMMENTS_BAD)[com]
            out.append(nps_record(sid, responded[i], *self._respondent(u), score, comment))
        return out

    # ------------------------------------------------------------------ one more simulated day
    def _day_new_tickets(self, day: Day) -> None:
        """New tickets of existing users."""
        rng = day.rng
        U = self.T["helpdesk/users"]
        nu = len(U["id"])
        for urow in (rng.choice(nu, min(nu, day.k_of(0.002, 3)), replace=False).tolist() if nu else []):
            t = day.when()
            subj = int(rng.integers(0, len(SUBJECTS)))
            ts = hd_ts(np.array([t]))[0]
            day.put("helpdesk/tickets", None, {
                "id": self._next_id("helpdesk/tickets"), "requester_id": int(U["id"][urow]), "subject": SUBJECTS[subj],
                "via": {"channel": CHANNELS[int(rng.choice(4, p=[0.35, 0.35, 0.15, 0.15]))]}, "status": "new",
                "created_at": ts, "updated_at": ts, "solved_at": None, "custom_fields": [{"id": 360001, "value": None}],
                "satisfaction_rating": {"score": "unoffered"}, "tags": [SUBJECT_TAG[subj]]})

    def _day_ticket_progress(self, day: Day) -> None:
        """Progress on open tickets: solved (with a rating, maybe a CSAT response) or closed."""
        rng = day.rng
        Tk = self.T["helpdesk/tickets"]
        opent = np.flatnonzero(Tk["status"] <= 3)
        opent = np.array([x for x in opent.tolist() if x not in self._over["helpdesk/tickets"]], dtype=np.int64)
        for trow in (rng.choice(opent, min(len(opent), day.k_of(0.002, 3)), replace=False).tolist() if len(opent) else []):
            t = day.when()
            rec = dict(self._current("helpdesk/tickets", trow))
            ts = hd_ts(np.array([t]))[0]
            if rec["status"] == "solved":
                rec["status"] = "closed"
            else:
                rec.update(status="solved", solved_at=ts)
                score = RATINGS[int(rng.choice(4, p=[0.2, 0.3, 0.35, 0.15]))]
                rec["satisfaction_rating"] = {"score": score}
                # the survey is offered on solving; half the requesters answer (1-5) a minute later
                rid = self._next_id("helpdesk/satisfaction_ratings", 7)
                rated = hd_ts(np.array([t + 60]))[0]
                score = "offered"
                if rng.random() < 0.5:
                    score = "good" if int(rng.integers(1, 6)) >= 4 else "bad"
                day.put("helpdesk/satisfaction_ratings", None, rating_record(
                    rid, rec["id"], rec["requester_id"], score, None, rated, rated))
            rec["updated_at"] = ts
            day.put("helpdesk/tickets", trow, rec)

    def _day_rating_change(self, day: Day) -> None:
        """A requester answers an offered survey or changes their answer (good <-> bad) within 28 days of
        the rating: the same rating id with a new `updated_at`. Draws from its own random stream, so the
        other events of the day stay as they were."""
        rng = _rng(self.seed, "rating change", self.day_index)
        R = self.T["helpdesk/satisfaction_ratings"]
        since = day.t_lo - 28 * DAY
        recent = [(row, None) for row in np.flatnonzero(R["t"] >= since).tolist()]
        recent += [(None, rid) for rid, rec in self._extra["helpdesk/satisfaction_ratings"].items()
                   if rec["created_at"] >= hd_ts(np.array([since]))[0]]
        if not recent:
            return
        row, rid = recent[int(rng.integers(0, len(recent)))]
        rec = dict(self._current("helpdesk/satisfaction_ratings", row) if row is not None
                   else self._extra["helpdesk/satisfaction_ratings"][rid])
        if rec["score"] not in ("offered", "good", "bad"):
            return
        answer = "good" if rng.random() < 0.6 else "bad"
        rec["score"] = {"good": "bad", "bad": "good"}.get(rec["score"], answer)
        rec["updated_at"] = hd_ts(np.array([day.t_lo + int(rng.integers(120, DAY - 2 * HOUR))]))[0]
        day.put("helpdesk/satisfaction_ratings", row, rec)

    def _day_nps_response(self, day: Day) -> None:
        """One NPS survey response."""
        rng = day.rng
        U = self.T["helpdesk/users"]
        nu = len(U["id"])
        if nu:
            urow = int(rng.integers(0, nu))
            t = day.when()
            rid = self._next_id("nps/responses")
            day.put("nps/responses", None, nps_record(rid, hd_ts(np.array([t]))[0], *self._respondent(urow),
                                                      int(rng.integers(0, 11)), None))

    def _day_new_caller(self, day: Day, new_p: np.ndarray) -> None:
        """A new helpdesk user (a caller not seen before) for one new person, with a ticket."""
        rng = day.rng
        for p in new_p[:1].tolist():
            t = day.when()
            idn = self._identity(np.array([p]), rng, "helpdesk")
            uid = self._next_id("helpdesk/users", int(rng.integers(1, 13)))
            ts = hd_ts(np.array([t]))[0]
            day.put("helpdesk/users", None, {
                "id": uid, "name": f"{idn['first'][0]} {idn['last'][0]}", "email": idn["email"][0],
                "phone": idn["mobile"][0] or idn["land"][0], "external_id": None,
                "role": "end-user", "active": True, "created_at": ts, "updated_at": ts})
            self._extra_truth.append(("helpdesk", str(uid), _person_ids(np.array([p]))[0]))
            day.put("helpdesk/tickets", None, {
                "id": self._next_id("helpdesk/tickets"), "requester_id": uid, "subject": "Frage zur Bestellung",
                "via": {"channel": "voice"}, "status": "open", "created_at": ts, "updated_at": ts, "solved_at": None,
                "custom_fields": [{"id": 360001, "value": None}], "satisfaction_rating": {"score": "unoffered"},
                "tags": ["bestellung", "anruf"]})


NPS_SURVEY = "NPS Kundenbefragung"


def nps_record(rid: int, responded_at: str, email: str | None, customer_reference: str | None, score: int,
               comment: str | None) -> dict:
    """One NPS answer as a row of the survey tool's export (`id` is its `response_id`)."""
    return {"id": rid, "responded_at": responded_at, "email": email, "customer_reference": customer_reference,
            "score": score, "comment": comment, "survey": NPS_SURVEY}


RATING_ID0 = 360_000_100_000
RATING_SCORES = ("offered", "good", "bad")
RATING_URL = "https://c360-demo.zendesk.com/api/v2/satisfaction_ratings/{}.json"


def rating_record(rid: int, ticket_id: int, requester_id: int, score: str, comment: str | None, created_at: str,
                  updated_at: str) -> dict:
    """A satisfaction rating as `GET /api/v2/satisfaction_ratings` lists it (the demo has no agents or
    groups, so `assignee_id`/`group_id` are null, as Zendesk gives them for an unassigned ticket)."""
    return {"id": rid, "url": RATING_URL.format(rid), "assignee_id": None, "group_id": None, "requester_id": requester_id,
            "ticket_id": ticket_id, "score": score, "comment": comment, "reason": None,
            "created_at": created_at, "updated_at": updated_at}


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CSAT_QUESTION = {"type": "rating_scale_numeric", "sub_type": "customer_satisfaction", "id": "01JCSAT0QUESTION0000000000"}
CSAT_SURVEY = {"id": "01JCSAT0SURVEY000000000000", "version": 1, "state": "enabled"}


def ulid(created_ms: int, tail: int) -> str:
    """A ULID whose first ten characters carry `created_ms`; the other sixteen are `tail` (80 bits)."""
    head = "".join(_CROCKFORD[(created_ms >> (5 * i)) & 31] for i in range(9, -1, -1))
    return head + "".join(_CROCKFORD[(tail >> (5 * i)) & 31] for i in range(15, -1, -1))


def survey_response_from_rating(rating: dict) -> dict:
    """A satisfaction rating as the CSAT survey response an account on Zendesk's current CSAT holds
    instead (`GET /api/v2/guide/survey_responses`): the ULID id made from the rating's creation time
    and id, the requester as `responder_id` (a string, as Zendesk writes it), the ticket as subject;
    a `good` rating answers 5 and a `bad` one 2 on the 1-5 scale, an offered one has no answer yet."""
    created = datetime.fromisoformat(rating["created_at"])
    answers = []
    if rating["score"] in ("good", "bad"):
        answers.append({"type": "rating_scale", "rating": 5 if rating["score"] == "good" else 2,
                        "rating_category": rating["score"], "question": CSAT_QUESTION,
                        "created_at": rating["created_at"], "updated_at": rating["updated_at"]})
    ticket = str(rating["ticket_id"])
    return {"id": ulid(int(created.timestamp() * 1000), int(rating["id"])),
            "expires_at": (created + timedelta(days=28)).isoformat().replace("+00:00", "Z"),
            "responder_id": str(rating["requester_id"]), "subject_zrns": [f"zen:ticket:{ticket}"],
            "subjects": [{"id": ticket, "type": "ticket", "zrn": f"zen:ticket:{ticket}"}],
            "survey": CSAT_SURVEY, "answers": answers}


def ratings_from_legacy(lines: list[bytes]) -> tuple[list[bytes], list[bytes]]:
    """(satisfaction ratings, remaining survey responses) of a replay directory of the earlier layout,
    whose survey responses held the CSAT answers (`type: "csat"`, 1-5): each becomes a `good` (4-5) or
    `bad` (1-3) rating with the response's id and times; other rows stay survey responses."""
    ratings, rest = [], []
    for line in lines:
        rec = orjson.loads(line)
        if not (isinstance(rec, dict) and rec.get("type") == "csat" and isinstance(rec.get("score"), int)):
            rest.append(line)
            continue
        ratings.append(orjson.dumps(rating_record(
            rec.get("id"), rec.get("ticket_id"), rec.get("user_id"), "good" if rec["score"] >= 4 else "bad",
            rec.get("comment"), rec.get("created_at"), rec.get("updated_at"))))
    return ratings, rest


def nps_from_legacy(lines: list[bytes], users: list[bytes]) -> list[bytes]:
    """The NPS answers of a replay directory's earlier `helpdesk/survey_responses.jsonl` (`type: "nps"`,
    one `user_id` each) as rows of the survey tool's export: the e-mail and external id (the shop
    customer id) of that helpdesk user (`users`: the replay's helpdesk users) become the respondent's
    e-mail and customer reference. A row of another type, or whose user is not in the replay, is
    dropped: its respondent cannot be named."""
    known = {}
    for line in users:
        user = orjson.loads(line)
        if isinstance(user, dict) and user.get("id") is not None:
            known[user["id"]] = user
    out = []
    for line in lines:
        rec = orjson.loads(line)
        if not (isinstance(rec, dict) and rec.get("type") == "nps" and rec.get("user_id") in known):
            continue
        user = known[rec["user_id"]]
        out.append(orjson.dumps(nps_record(rec.get("id"), rec.get("created_at"), user.get("email"),
                                           user.get("external_id"), rec.get("score"), rec.get("comment"))))
    return out


# --------------------------------------------------------------------------------------------------
# HTTP API
# --------------------------------------------------------------------------------------------------
HELPDESK_MAX_PAGE = 1000
_HELPDESK_PATH = re.compile(r"api/v2/incremental/(users|tickets)/cursor\.json")
_RATINGS_PATH = re.compile(r"api/v2/satisfaction_ratings(\.json)?")
RATINGS_MAX_PAGE = 100
_SURVEY_RESPONSES_PATH = re.compile(r"api/v2/guide/survey_responses(\.json)?")
# The `score` filter of List Satisfaction Ratings: which scores it keeps, and whether a comment must be
# there (True), absent (False) or either (None).
_SCORE_FILTERS: dict[str, tuple[frozenset, bool | None]] = {
    "offered": (frozenset({"offered"}), None), "unoffered": (frozenset({"unoffered"}), None),
    **{f"{name}{suffix}": (scores, comment)
       for name, scores in (("received", frozenset({"good", "bad"})), ("good", frozenset({"good"})),
                            ("bad", frozenset({"bad"})))
       for suffix, comment in (("", None), ("_with_comment", True), ("_without_comment", False))},
}


def _rating_matches(record, scores: frozenset, comment: bool | None) -> bool:
    if not isinstance(record, dict) or record.get("score") not in scores:
        return False
    return comment is None or bool(record.get("comment")) == comment


class HelpdeskApi:
    """The helpdesk's cursor-based incremental export of users and tickets, and its satisfaction ratings.

    A mixin of `server.SourceApp`, which routes `/helpdesk/...` requests here.
    """

    @staticmethod
    def _helpdesk_param_error(name: str, message: str) -> ApiError:
        return ApiError(400, f"{name} {message}", code="InvalidValue",
                        details={name: [{"description": f"{name} {message}", "error": "InvalidValue"}]})

    def helpdesk(self, method: str, rest: str, params: dict, base: str) -> Response:
        if _RATINGS_PATH.fullmatch(rest):
            if method != "GET":
                raise ApiError(405, "Method not allowed", code="MethodNotAllowed")
            return self._satisfaction_ratings(params, base)
        if _SURVEY_RESPONSES_PATH.fullmatch(rest):
            if method != "GET":
                raise ApiError(405, "Method not allowed", code="MethodNotAllowed")
            return self._survey_responses(params, base)
        match = _HELPDESK_PATH.fullmatch(rest)
        if not match:
            raise ApiError(404, "The page you were looking for doesn't exist", code="InvalidEndpoint")
        if method != "GET":
            raise ApiError(405, "Method not allowed", code="MethodNotAllowed")
        resource = match.group(1)
        view = self.stores["helpdesk/" + resource].view()
        horizon = self.now_us() - HOLDBACK_US
        visible = view.marker_right(horizon)
        per_page = _int_param(params, "per_page", HELPDESK_MAX_PAGE, 1, HELPDESK_MAX_PAGE, self._helpdesk_param_error)
        if params.get("cursor"):
            cursor = _unb64(params["cursor"])
            if (not isinstance(cursor, dict) or cursor.get("r") != resource or not isinstance(cursor.get("m"), int)
                    or not (cursor.get("i") is None or isinstance(cursor.get("i"), int))):
                raise ApiError(400, "cursor is invalid", code="InvalidCursor", details={"cursor": params["cursor"]})
        elif params.get("start_time") not in (None, ""):
            try:
                start_time = int(params["start_time"])
            except ValueError:
                raise self._helpdesk_param_error("start_time", "must be a unix timestamp in seconds") from None
            if start_time < 0:
                raise self._helpdesk_param_error("start_time", "must not be negative")
            if start_time * 1_000_000 > horizon:
                raise ApiError(400, "Too recent start_time. Use a start_time older than 1 minute",
                               code="InvalidValue",
                               details={"start_time": [{"description": "Too recent start_time", "error": "InvalidValue"}]})
            cursor = {"r": resource, "m": start_time * 1_000_000, "i": None}
        else:
            raise self._helpdesk_param_error("start_time", "is required (or give a cursor)")
        if cursor["i"] is None:
            start = view.marker_left(cursor["m"])
        else:
            start = view.position_after(cursor["m"], cursor["i"])
        stop = max(start, min(visible, start + per_page))
        records = view.encoded(slice(start, stop))
        if stop > start:
            cursor = {"r": resource, "m": int(view.marker[stop - 1]), "i": int(view.ids[stop - 1])}
        after = _b64(cursor)
        after_url = f"{base}/api/v2/incremental/{resource}/cursor.json?cursor={after}"
        if "per_page" in params:
            after_url += f"&per_page={per_page}"
        end_of_stream = stop >= visible
        body = b"".join((
            b'{"', resource.encode(), b'":[', b",".join(records), b'],"after_cursor":', orjson.dumps(after),
            b',"after_url":', orjson.dumps(after_url), b',"before_cursor":null,"before_url":null,"end_of_stream":',
            b"true" if end_of_stream else b"false", b"}",
        ))
        return Response(200, body, "application/json; charset=utf-8")

    def _ratings_window(self, params: dict, view) -> tuple[int, int]:
        """View positions of the ratings created within `start_time`..`end_time` (Unix seconds, inclusive)."""
        bounds = []
        for name in ("start_time", "end_time"):
            raw = params.get(name)
            if raw in (None, ""):
                bounds.append(None)
                continue
            try:
                bounds.append(int(raw) * 1_000_000)
            except ValueError:
                raise self._helpdesk_param_error(name, "must be a unix timestamp in seconds") from None
        start = 0 if bounds[0] is None else view.marker_left(bounds[0])
        end = len(view) if bounds[1] is None else view.marker_right(bounds[1] + 999_999)
        return start, max(start, end)

    def _satisfaction_ratings(self, params: dict, base: str) -> Response:
        """List Satisfaction Ratings: oldest first (by creation), filters `score`, `start_time`, `end_time`;
        cursor pagination with `page[size]` (at most 100) and `page[after]`, offset pagination (`page`,
        `per_page`) otherwise."""
        view = self.stores["helpdesk/satisfaction_ratings"].view()
        score = params.get("score") or None
        if score is not None and score not in _SCORE_FILTERS:
            raise self._helpdesk_param_error("score", "is not a valid satisfaction rating score")
        start, end = self._ratings_window(params, view)
        wanted = _SCORE_FILTERS[score] if score else None
        cursor_mode = "page[size]" in params or "page[after]" in params
        if cursor_mode:
            size = _int_param(params, "page[size]", RATINGS_MAX_PAGE, 1, RATINGS_MAX_PAGE, self._helpdesk_param_error)
            if params.get("page[after]"):
                after = _unb64(params["page[after]"])
                if not isinstance(after, dict) or not isinstance(after.get("m"), int) or not isinstance(after.get("i"), int):
                    raise ApiError(400, "page[after] is invalid", code="InvalidPaginationParameter")
                start = max(start, view.position_after(after["m"], after["i"]))
            skip = 0
        else:
            size = _int_param(params, "per_page", RATINGS_MAX_PAGE, 1, RATINGS_MAX_PAGE, self._helpdesk_param_error)
            number = _int_param(params, "page", 1, 1, None, self._helpdesk_param_error)
            skip = (number - 1) * size
        positions, records, more = [], [], False
        pos = start
        while pos < end:
            hi = min(end, pos + 4 * size + skip)
            for p, raw in zip(range(pos, hi), view.encoded(slice(pos, hi))):
                if wanted is not None and not _rating_matches(orjson.loads(raw), *wanted):
                    continue
                if skip:
                    skip -= 1
                elif len(records) == size:
                    more = True
                    break
                else:
                    positions.append(p)
                    records.append(bytes(raw))
            if more:
                break
            pos = hi
        query = {k: v for k, v in params.items() if k not in ("page[after]", "page")}
        body = {"satisfaction_ratings": [orjson.Fragment(r) for r in records]}
        if cursor_mode:
            last = positions[-1] if positions else None
            after = _b64({"m": int(view.marker[last]), "i": int(view.ids[last])}) if last is not None else None
            body["meta"] = {"has_more": more, "after_cursor": after, "before_cursor": None}
            body["links"] = {"next": f"{base}/api/v2/satisfaction_ratings.json?{urlencode({**query, 'page[after]': after})}"
                             if more else None, "prev": None}
        else:
            number = int(params.get("page") or 1)
            link = f"{base}/api/v2/satisfaction_ratings.json?{{}}"
            body["next_page"] = link.format(urlencode({**query, "page": number + 1})) if more else None
            body["previous_page"] = link.format(urlencode({**query, "page": number - 1})) if number > 1 else None
            body["count"] = self._ratings_count(view, start, end, wanted)
        return Response(200, orjson.dumps(body), "application/json; charset=utf-8")

    @staticmethod
    def _ratings_count(view, start: int, end: int, wanted) -> int:
        if wanted is None:
            return end - start
        return sum(_rating_matches(orjson.loads(raw), *wanted) for raw in view.encoded(slice(start, end)))

    def _survey_responses(self, params: dict, base: str) -> Response:
        """List Survey Responses (`GET /api/v2/guide/survey_responses`): sorted by id (a ULID, so by
        creation), `filter[created_at_start|end]` on the creation time (Unix milliseconds, inclusive),
        `filter[responder_ids]` and `filter[subject_zrns]` (comma-separated), cursor pagination
        (`page[size]` at most 100, `page[after]`; `meta.has_more`, `meta.after_cursor`). The generated
        world's account runs the legacy CSAT, so only a replay directory fills this list; the demo
        sorts ascending only (`sort=id`, the default) and answers 400 to `-id`."""
        view = self.stores["helpdesk/csat_survey_responses"].view()
        if params.get("sort", "id") != "id":
            raise self._helpdesk_param_error("sort", "is not supported by the demo helpdesk (only id)")
        bounds = []
        for name in ("filter[created_at_start]", "filter[created_at_end]"):
            raw = params.get(name)
            try:
                bounds.append(None if raw in (None, "") else int(raw) * 1000)
            except ValueError:
                raise self._helpdesk_param_error(name, "must be a unix timestamp in milliseconds") from None
        start = 0 if bounds[0] is None else view.marker_left(bounds[0])
        end = len(view) if bounds[1] is None else view.marker_right(bounds[1] + 999)
        size = _int_param(params, "page[size]", RATINGS_MAX_PAGE, 1, RATINGS_MAX_PAGE, self._helpdesk_param_error)
        if params.get("page[after]"):
            after = _unb64(params["page[after]"])
            if not isinstance(after, dict) or not isinstance(after.get("m"), int) or not isinstance(after.get("i"), str):
                raise ApiError(400, "page[after] is invalid", code="InvalidPaginationParameter")
            start = max(start, view.position_after(after["m"], after["i"].encode()))
        wanted = _response_filter(params)
        positions, records, more = [], [], False
        for pos in range(start, max(start, end)):
            raw = view.encoded(slice(pos, pos + 1))[0]
            if wanted is not None and not wanted(orjson.loads(raw)):
                continue
            if len(records) == size:
                more = True
                break
            positions.append(pos)
            records.append(bytes(raw))
        after = None
        if positions:
            last = positions[-1]
            after = _b64({"m": int(view.marker[last]), "i": bytes(view.ids[last]).decode()})
        query = {k: v for k, v in params.items() if k != "page[after]"}
        body = {"survey_responses": [orjson.Fragment(r) for r in records],
                "meta": {"has_more": more, "after_cursor": after, "before_cursor": None},
                "links": {"next": f"{base}/api/v2/guide/survey_responses?{urlencode({**query, 'page[after]': after})}"
                          if more else None, "prev": None}}
        return Response(200, orjson.dumps(body), "application/json; charset=utf-8")


def _response_filter(params: dict):
    """The predicate of `filter[responder_ids]` / `filter[subject_zrns]` (None: no filter)."""
    responders = {v for v in (params.get("filter[responder_ids]") or "").split(",") if v}
    zrns = {v for v in (params.get("filter[subject_zrns]") or "").split(",") if v}
    if not responders and not zrns:
        return None

    def wanted(record) -> bool:
        if not isinstance(record, dict):
            return False
        if responders and str(record.get("responder_id")) not in responders:
            return False
        return not zrns or bool(zrns & set(record.get("subject_zrns") or []))

    return wanted
