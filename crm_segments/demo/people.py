"""Word pools for demo people and companies: names, occupations, industries, interests, acquisition."""

from __future__ import annotations

import unicodedata
from functools import cache

from crm_segments.demo.sampling import Weighted


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


@cache  # names come from small pools
def ascii_slug(text: str) -> str:
    """Lower-case ASCII for email local parts and domains: "Müller" -> "mueller", "Zoë" -> "zoe"."""
    text = text.replace("ß", "ss").replace("ä", "ae").replace("ö", "oe").replace("ü", "ue")
    text = text.replace("Ä", "Ae").replace("Ö", "Oe").replace("Ü", "Ue")
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return "".join(c for c in plain.lower() if c.isalnum())


# (female first names, male first names, last names) per culture.
NAMES: dict[str, tuple[tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "en": (
        _words("Olivia Emma Charlotte Amelia Sophia Isabella Ava Mia Evelyn Harper Emily Abigail "
               "Ella Grace Chloe Victoria Lily Hannah Zoe Nora Hazel Aria Ruby Sarah Jessica Laura "
               "Megan Rachel Priya Aisha Mei Sofia Lucia Maria Fatima Naomi Claire Anna Julia Leah"),
        _words("Liam Noah Oliver James Elijah William Henry Lucas Benjamin Theodore Jack Samuel "
               "Daniel Michael David Joseph Matthew Andrew Ethan Ryan Nathan Thomas Christopher "
               "Jacob Aaron Adrian Omar Raj Wei Carlos Diego Mateo Ahmed Kenji Connor Owen Isaac Leo"),
        _words("Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez "
               "Lopez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Thompson White Harris "
               "Clark Lewis Robinson Walker Young Allen King Wright Scott Green Baker Adams Nelson "
               "Hill Campbell Mitchell Roberts Carter Phillips Evans Turner Torres Parker Collins "
               "Edwards Stewart Morris Murphy Cook Rogers Morgan Peterson Cooper Reed Bailey Bell "
               "Kelly Howard Ward Cox Richardson Wood Watson Brooks Bennett Gray Hughes Price Patel "
               "Nguyen Kim Chen Singh Khan O'Brien MacDonald Fraser Walsh Byrne Murray Hunt Palmer"),
    ),
    "de": (
        _words("Sophie Marie Emilia Hannah Emma Mia Lena Lea Anna Lina Clara Johanna Laura Katharina "
               "Julia Sarah Leonie Charlotte Greta Jana Sabine Petra Ursula Monika Ingrid"),
        _words("Maximilian Alexander Paul Leon Lukas Felix Jonas Elias Noah Finn Ben Moritz Jan "
               "Tobias Florian Stefan Michael Thomas Andreas Markus Jürgen Klaus Wolfgang Dieter Uwe"),
        _words("Müller Schmidt Schneider Fischer Weber Meyer Wagner Becker Schulz Hoffmann Schäfer "
               "Koch Bauer Richter Klein Wolf Schröder Neumann Schwarz Zimmermann Braun Krüger "
               "Hofmann Hartmann Lange Schmitt Werner Krause Meier Lehmann Köhler Fuchs Vogel"),
    ),
    "fr": (
        _words("Louise Jade Emma Alice Chloé Léa Manon Camille Inès Lina Zoé Juliette Sarah Élise "
               "Margaux Clémence Anaïs Pauline Mathilde Céline Isabelle Nathalie Sophie Amélie"),
        _words("Gabriel Louis Raphaël Jules Adam Lucas Léo Hugo Arthur Nathan Thomas Antoine "
               "Maxime Nicolas Julien Alexandre Pierre Mathieu Guillaume François Étienne Olivier"),
        _words("Martin Bernard Dubois Thomas Robert Richard Petit Durand Leroy Moreau Simon Laurent "
               "Lefebvre Michel Garcia David Bertrand Roux Vincent Fournier Morel Girard André "
               "Lefèvre Mercier Dupont Lambert Bonnet François Martinez Gagnon Tremblay Côté Roy"),
    ),
}

PERSONAL_EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example.com")

JOB_TITLES = Weighted([
    ("Owner", 8), ("Founder", 3), ("CEO", 3), ("Managing Director", 2), ("Operations Manager", 6),
    ("Facilities Manager", 7), ("Office Manager", 6), ("Procurement Manager", 4), ("CFO", 1.5),
    ("IT Manager", 4), ("Project Manager", 5), ("Purchasing Agent", 3), ("Site Manager", 3),
    ("Head of Facilities", 2), ("Property Manager", 5), ("Administrator", 3), ("Sustainability Lead", 1),
])

INDUSTRIES = Weighted([
    ("Construction", 9), ("Real Estate", 8), ("Hospitality", 6), ("Healthcare", 7),
    ("Retail", 8), ("Manufacturing", 6), ("Education", 5), ("Professional Services", 8),
    ("Technology", 6), ("Logistics", 5), ("Agriculture", 3), ("Food & Beverage", 5),
    ("Financial Services", 4), ("Government", 2), ("Nonprofit", 3), ("Automotive", 4),
    ("Energy", 3), ("Media", 2),
])

# Nouns that make company names sound like their industry.
INDUSTRY_NOUNS: dict[str, tuple[str, ...]] = {
    "Construction": ("Builders", "Construction", "Contracting", "Homes"),
    "Real Estate": ("Properties", "Realty", "Estates", "Property Group"),
    "Hospitality": ("Hotels", "Inn", "Resorts", "Hospitality"),
    "Healthcare": ("Dental", "Clinic", "Health", "Medical Center"),
    "Retail": ("Outfitters", "Market", "Stores", "Supply"),
    "Manufacturing": ("Manufacturing", "Industries", "Works", "Fabrication"),
    "Education": ("Academy", "Learning", "School", "Institute"),
    "Professional Services": ("Partners", "Consulting", "Advisors", "Associates"),
    "Technology": ("Software", "Labs", "Systems", "Analytics"),
    "Logistics": ("Logistics", "Freight", "Transport", "Distribution"),
    "Agriculture": ("Farms", "Growers", "Orchards", "Agri"),
    "Food & Beverage": ("Bakery", "Brewing", "Kitchen", "Foods"),
    "Financial Services": ("Capital", "Financial", "Wealth", "Insurance"),
    "Government": ("Council", "Authority", "Department", "Services"),
    "Nonprofit": ("Foundation", "Trust", "Alliance", "Society"),
    "Automotive": ("Motors", "Auto Care", "Garage", "Autos"),
    "Energy": ("Energy", "Power", "Renewables", "Utilities"),
    "Media": ("Media", "Studios", "Press", "Creative"),
}

COMPANY_WORDS = _words(
    "Summit Harbor Pioneer Evergreen Northwind Granite Riverside Lakeside Silverline Bluebird "
    "Ironwood Maple Cedar Oakridge Redwood Sterling Beacon Horizon Keystone Liberty Atlas Apex "
    "Meridian Crescent Falcon Juniper Willow Aspen Sequoia Cobalt Copperfield Brightwater "
    "Westfield Eastgate Northgate Southbank Highland Prairie Coastal Alpine Sunrise Clearview "
    "Greenfield Stonebridge Fairview Kingsway Parkside Orchard Trinity Heritage Lighthouse Anchor"
)

COMPANY_SUFFIXES = {
    "US": ("LLC", "Inc.", "Co.", ""), "CA": ("Inc.", "Ltd.", ""), "GB": ("Ltd", "plc", "& Co"),
    "DE": ("GmbH", "AG", "KG"), "FR": ("SARL", "SAS", "SA"), "AU": ("Pty Ltd", "Ltd", ""),
}

# (low, high) employees, weight.
COMPANY_SIZES = Weighted([
    ((1, 10), 30), ((11, 50), 28), ((51, 200), 20), ((201, 1000), 13), ((1001, 5000), 6),
    ((5001, 50000), 3),
])

OCCUPATIONS = Weighted([
    ("Teacher", 5), ("Nurse", 5), ("Software Developer", 5), ("Accountant", 4), ("Engineer", 5),
    ("Electrician", 3), ("Sales Representative", 5), ("Retail Worker", 4), ("Chef", 2),
    ("Designer", 3), ("Doctor", 2), ("Lawyer", 2), ("Student", 5), ("Retired", 7),
    ("Small Business Owner", 4), ("Civil Servant", 4), ("Consultant", 3), ("Marketing Specialist", 3),
    ("Mechanic", 2), ("Pharmacist", 1), ("Architect", 1), ("Homemaker", 3), ("Driver", 3),
    ("Farmer", 1), ("Scientist", 1), ("Real Estate Agent", 2),
])

INTERESTS = _words(
    "gardening home_improvement sustainability smart_home cooking travel fitness cycling running "
    "outdoor_living pets family photography technology diy energy_saving electric_vehicles "
    "interior_design golf fishing camping music reading wine woodworking"
)

# (channel, sources, weight)
ACQUISITION = Weighted([
    (("organic_search", ("google", "bing", "duckduckgo")), 22),
    (("paid_search", ("google_ads", "bing_ads")), 14),
    (("social", ("facebook", "instagram", "linkedin", "youtube", "tiktok")), 16),
    (("email", ("newsletter", "partner_newsletter")), 7),
    (("referral", ("customer_referral", "installer_referral", "review_site")), 14),
    (("direct", ("website", "phone_in", "walk_in")), 13),
    (("event", ("trade_show", "home_show", "webinar")), 6),
    (("partner", ("utility_partner", "builder_partner", "marketplace")), 8),
])

CAMPAIGN_THEMES = ("spring-tune-up", "summer-cooling", "back-to-school", "fall-heating",
                   "black-friday", "winter-warmth", "solar-savings", "new-home", "referral-bonus")
