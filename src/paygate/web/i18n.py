"""The portal's two languages: English (the source strings) and French.

The language is negotiated from ``Accept-Language`` with Babel, unless the
visitor chose one (``?lang=fr`` on any page, remembered in a cookie). Amounts
and dates are formatted by Babel for that locale; the few dozen strings the
pages show are translated from the table below (one module: no compile step,
so a host that installs ``paygate[web]`` gets both languages as they are).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date

from babel import Locale, UnknownLocaleError
from babel.dates import format_date
from babel.numbers import format_currency

from paygate.money import Money

LANGUAGES = ("en", "fr")
DEFAULT = "en"
COOKIE = "paygate_lang"


def negotiate(accept_language: str | None, chosen: str | None = None) -> str:
    """The page's language: the visitor's choice if it is one we have, else
    the best match of ``Accept-Language`` (q-values honoured), else English."""
    if chosen in LANGUAGES:
        return chosen
    wanted: list[tuple[float, int, str]] = []
    for position, part in enumerate((accept_language or "").split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        q = 1.0
        if params.strip().startswith("q="):
            try:
                q = float(params.strip()[2:])
            except ValueError:
                q = 0.0
        if tag and q > 0:
            wanted.append((-q, position, tag.strip().replace("-", "_")))
    preferred = [tag for _, _, tag in sorted(wanted)]
    try:
        found = Locale.negotiate(preferred, list(LANGUAGES), sep="_")
    except (UnknownLocaleError, ValueError):
        found = None
    return found.language if found is not None and found.language in LANGUAGES else DEFAULT


def translator(lang: str) -> Callable[..., str]:
    """``_("text", name=value)``: the French text when ``lang`` is ``fr``, then
    ``str.format`` with the keywords."""
    table = FR if lang == "fr" else {}

    def gettext(text: str, **values: object) -> str:
        found = table.get(text, text)
        return found.format(**values) if values else found

    return gettext


def money(value: Money, lang: str) -> str:
    return format_currency(value.amount, value.currency, locale=lang)


def day(value: date | None, lang: str) -> str:
    return "" if value is None else format_date(value, format="long", locale=lang)


FR: dict[str, str] = {
    "Billing details": "Détails de facturation",
    "Account details": "Détails du compte",
    "Plan": "Plan",
    "Plan size": "Taille du plan",
    "{n} attendees": "{n} participants",
    "Payment schedule": "Programme de paiement",
    "Monthly": "Mensuel",
    "Annual": "Annuel",
    "Price": "Prix",
    "Status": "Statut",
    "Renewal date": "Date de renouvellement",
    "Free minutes balance": "Solde des minutes gratuites",
    "{left} of {included} left": "{left} sur {included} restantes",
    "Next charge": "Prochain prélèvement",
    "Charged on {date}": "Prélevé le {date}",
    "Nothing will be charged.": "Rien ne sera prélevé.",
    "Open disputes": "Litiges en cours",
    "Your bank disputes these payments. We will get in touch; there is nothing to do here.": (
        "Votre banque conteste ces paiements. Nous vous contacterons ; "
        "vous n’avez rien à faire ici."
    ),
    "Opened on {date} for {amount}": "Ouvert le {date} pour {amount}",
    "Opened on {date}": "Ouvert le {date}",
    "Total": "Total",
    "Payment method": "Mode de paiement",
    "No payment method yet.": "Aucun mode de paiement pour le moment.",
    "Add a new card": "Ajouter une nouvelle carte",
    "Add-ons": "Modules complémentaires",
    "No add-ons.": "Aucun module complémentaire.",
    "Manage add-ons": "Gérer les modules complémentaires",
    "Upgrade or change plan": "Passer à un plan supérieur ou changer de plan",
    "Switch to annual (20 % off)": "Passer à l’annuel (20 % de remise)",
    "Switch to monthly": "Passer au mensuel",
    "Freeze or cancel": "Geler ou annuler",
    "Freeze the account": "Geler le compte",
    "Freeze for": "Geler pendant",
    "{n} days": "{n} jours",
    "Freeze": "Geler",
    "Unfreeze now": "Dégeler maintenant",
    "Frozen until {date}.": "Gelé jusqu’au {date}.",
    "Cancel at the end of the period": "Annuler à la fin de la période",
    "Keep my subscription (reactivate)": "Garder mon abonnement (réactiver)",
    "Cancels on {date}: access until then.": "Annulé le {date} : accès jusque-là.",
    "Invoice history": "Historique des factures",
    "Change plan": "Changer de plan",
    "Billing cycle": "Cycle de facturation",
    "Preview the change": "Prévisualiser le changement",
    "Preview": "Aperçu",
    "What this change does": "Ce que fait ce changement",
    "Charged now": "Prélevé maintenant",
    "Applies on {date}": "S’applique le {date}",
    "Confirm and pay": "Confirmer et payer",
    "Confirm": "Confirmer",
    "Back to billing details": "Retour aux détails de facturation",
    "The prices or your subscription changed since this preview. "
    "Here is the new preview: confirm it if it suits you.": "Les prix ou votre abonnement ont "
    "changé depuis cet aperçu. Voici le nouvel aperçu : confirmez-le s’il vous convient.",
    "Card number": "Numéro de carte",
    "Expiry month": "Mois d’expiration",
    "Expiry year": "Année d’expiration",
    "Security code (CVC)": "Code de sécurité (CVC)",
    "Name on the card": "Nom sur la carte",
    "Add the card": "Ajouter la carte",
    "Sandbox: use a test card such as 4242 4242 4242 4242. "
    "A $1 check is made and voided at once.": "Sandbox : utilisez une carte de test comme "
    "4242 4242 4242 4242. Une vérification de 1 $ est faite puis annulée aussitôt.",
    "Your card goes straight to our payment provider, Stripe: we never see its number. "
    "A $1 check is made and voided at once.": "Votre carte va directement à notre prestataire "
    "de paiement, Stripe : nous n’en voyons jamais le numéro. Une vérification de 1 $ est "
    "faite puis annulée aussitôt.",
    "Card entry with Stripe needs JavaScript: turn it on for this page, then reload it.": (
        "La saisie de la carte avec Stripe nécessite JavaScript : activez-le pour cette page, "
        "puis rechargez-la."
    ),
    "The card could not be checked. Check it and try again.": "La carte n’a pas pu être "
    "vérifiée. Vérifiez-la et réessayez.",
    "Card entry is unavailable: Stripe could not be loaded. Reload the page.": "La saisie de "
    "la carte est indisponible : Stripe n’a pas pu être chargé. Rechargez la page.",
    "Card details": "Coordonnées de la carte",
    "Card numbers are not accepted here (nothing was done).": "Les numéros de carte ne sont "
    "pas acceptés ici (rien n’a été fait).",
    "The card was added.": "La carte a été ajoutée.",
    "The card was refused: {reason}": "La carte a été refusée : {reason}",
    "Your add-ons": "Vos modules complémentaires",
    "Buy an add-on or a toll-free number": "Acheter un module ou un numéro gratuit",
    "Add-on": "Module",
    "Quantity": "Quantité",
    "Remove at the period end": "Retirer à la fin de la période",
    "Done.": "C’est fait.",
    "Date": "Date",
    "Number": "Numéro",
    "Reason": "Motif",
    "Amount": "Montant",
    "Download PDF": "Télécharger le PDF",
    "Corrects {number}": "Corrige {number}",
    "Corrected by {number}": "Corrigée par {number}",
    "Request a correction": "Demander une correction",
    "No invoices yet.": "Aucune facture pour le moment.",
    "Invoice Correction Request": "Demande de correction de facture",
    "Correct the receiver of invoice {number}": "Corriger le destinataire de la facture {number}",
    "Company or name": "Société ou nom",
    "Address": "Adresse",
    "Tax ID (VAT number)": "Numéro de TVA",
    "Comment for the billing team": "Commentaire pour le service facturation",
    "Disable the old receiver?": "Désactiver l’ancien destinataire ?",
    "Future invoices go to the corrected receiver.": "Les prochaines factures iront au "
    "destinataire corrigé.",
    "Send the request": "Envoyer la demande",
    "Correction requests": "Demandes de correction",
    "Request sent: the billing team will review it.": "Demande envoyée : le service facturation "
    "va l’examiner.",
    "pending": "en attente",
    "accepted": "acceptée",
    "rejected": "refusée",
    "Pending correction requests": "Demandes de correction en attente",
    "Nothing is waiting.": "Rien n’est en attente.",
    "Accept": "Accepter",
    "Reject": "Refuser",
    "Account": "Compte",
    "Invoice": "Facture",
    "New receiver": "Nouveau destinataire",
    "Billing is for the account owner": "La facturation est réservée au propriétaire du compte",
    "Only the owner of the main account, {owner}, can see billing details, "
    "pay or buy for this account.": "Seul le propriétaire du compte principal, {owner}, peut "
    "consulter les détails de facturation, payer ou acheter pour ce compte.",
    "Multi-users and sub-accounts cannot see the main account's billing details "
    "or make payments or purchases.": "Les multi-utilisateurs et les comptes secondaires ne "
    "peuvent pas consulter les détails de facturation du compte principal ni réaliser de "
    "paiements ou d’achats.",
    "Please sign in": "Veuillez vous connecter",
    "Sign in to the application to see your billing.": "Connectez-vous à l’application pour "
    "voir votre facturation.",
    "Not found": "Introuvable",
    "There is nothing here.": "Il n’y a rien ici.",
    "This form expired": "Ce formulaire a expiré",
    "Reload the page and send it again (nothing was done).": "Rechargez la page et renvoyez-le "
    "(rien n’a été fait).",
    "That did not work": "Cela n’a pas fonctionné",
    "Please wait and reload the page.": "Patientez puis rechargez la page.",
    "No subscription": "Aucun abonnement",
    "This account has no subscription yet.": "Ce compte n’a pas encore d’abonnement.",
    "Language": "Langue",
    "Skip to content": "Aller au contenu",
    "active": "actif",
    "frozen": "gelé",
    "cancelling": "annulation prévue",
    "canceled": "annulé",
    "past_due": "en retard de paiement",
    "needs_review": "en cours de vérification",
    "open": "ouverte",
    "paid": "payée",
    "void": "annulée",
    "uncollectible": "irrécouvrable",
    "refunded": "remboursée",
    "cancel": "résiliation",
    "subscription": "abonnement",
    "renewal": "renouvellement",
    "change": "changement",
    "correction": "correction",
    "Staff": "Service facturation",
    "Staff only": "Réservé au service facturation",
    "Only the billing staff decide corrections.": "Seul le service facturation décide des "
    "corrections.",
    "Document": "Document",
    "Actions": "Actions",
    "Invoice (380)": "Facture (380)",
    "Credit note (381)": "Avoir (381)",
    "Corrected invoice (384)": "Facture rectificative (384)",
    "Correction requested": "Correction demandée",
    "Country (two letters)": "Pays (deux lettres)",
    "Invoice e-mail": "E-mail de facturation",
    "Receiver on the invoice": "Destinataire sur la facture",
    "Why it is rejected": "Motif du refus",
    "Yes": "Oui",
    "No": "Non",
}

__all__ = ["COOKIE", "LANGUAGES", "day", "money", "negotiate", "translator"]
