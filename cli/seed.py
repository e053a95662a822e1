"""A realistic demo catalog (fictional hospitals in five countries, their doctors, treatments,
prices, packages, FAQs, pages, insurers, plans). Idempotent: rows are keyed by natural names,
so a second run creates nothing."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from domain.access import Role
from domain.models import (
    Base,
    Doctor,
    Faq,
    Hospital,
    HospitalDoctor,
    HospitalTreatment,
    Insurance,
    Package,
    SubscriptionPlan,
    Treatment,
    User,
    WebsiteContent,
)
from domain.passwords import hash_password
from domain.subscription import PlanTarget

M = TypeVar("M", bound=Base)

# Each seeded doctor works in their hospital's zone.
COUNTRY_ZONES = {
    "India": "Asia/Kolkata",
    "Turkey": "Europe/Istanbul",
    "Thailand": "Asia/Bangkok",
    "Mexico": "America/Tijuana",
    "Germany": "Europe/Berlin",
}
# Weekday mornings in the doctor's zone (doctors.weekly_hours, Monday = 0).
WEEKDAY_MORNINGS = [{"day": day, "start": "09:00", "end": "13:00"} for day in range(5)]


@dataclass(frozen=True)
class SeedDoctor:
    first_name: str
    last_name: str
    email: str
    specialty: str
    qualification: str
    experience_years: int
    license_number: str
    consultation_fee: Decimal
    languages: list[str]
    department: str


@dataclass(frozen=True)
class SeedHospital:
    name: str
    type: str
    country: str
    city: str
    address: str
    latitude: Decimal
    longitude: Decimal
    phone: str
    email: str
    website: str
    description: str
    certifications: list[str]
    specializations: list[str]
    currency: str
    # treatment name -> (base price in the hospital's currency, stay in days, success rate %)
    prices: dict[str, tuple[Decimal, int, Decimal]]
    doctors: list[SeedDoctor] = field(default_factory=list)


TREATMENTS: list[dict[str, Any]] = [
    {
        "name": "Coronary Artery Bypass Grafting (CABG)",
        "category": "cardiology",
        "duration_days": 10,
        "description": "Open-heart surgery that reroutes blood around blocked coronary arteries.",
    },
    {
        "name": "Total Knee Replacement",
        "category": "orthopedics",
        "duration_days": 7,
        "description": "Replacement of a worn knee joint with a metal and polyethylene implant.",
    },
    {
        "name": "Total Hip Replacement",
        "category": "orthopedics",
        "duration_days": 7,
        "description": "Replacement of the hip joint to relieve pain and restore mobility.",
    },
    {
        "name": "In Vitro Fertilisation (IVF)",
        "category": "fertility",
        "duration_days": 21,
        "description": "One IVF cycle: stimulation, egg retrieval, fertilisation and transfer.",
    },
    {
        "name": "Dental Implants",
        "category": "dental",
        "duration_days": 5,
        "description": "Titanium implant with abutment and crown, per tooth.",
    },
    {
        "name": "Hair Transplant (FUE)",
        "category": "cosmetic",
        "duration_days": 3,
        "description": "Follicular unit extraction, up to 4,000 grafts in one session.",
    },
    {
        "name": "LASIK Eye Surgery",
        "category": "ophthalmology",
        "duration_days": 2,
        "description": "Laser vision correction for both eyes, with follow-up checks.",
    },
    {
        "name": "Rhinoplasty",
        "category": "cosmetic",
        "duration_days": 7,
        "description": "Surgical reshaping of the nose, functional or aesthetic.",
    },
]

CABG, KNEE, HIP, IVF, DENTAL, HAIR, LASIK, RHINO = (t["name"] for t in TREATMENTS)


def _d(value: str) -> Decimal:
    return Decimal(value)


HOSPITALS: list[SeedHospital] = [
    SeedHospital(
        name="Chennai Heart & Joint Institute",
        type="multi_specialty",
        country="India",
        city="Chennai",
        address="21 Greams Road, Thousand Lights, Chennai 600006",
        latitude=_d("13.06040000"),
        longitude=_d("80.25260000"),
        phone="+914428290200",
        email="international@chj-institute.example.com",
        website="https://chj-institute.example.com",
        description="A 600-bed tertiary care hospital known for cardiac and joint surgery.",
        certifications=["JCI", "NABH"],
        specializations=["cardiology", "orthopedics", "fertility"],
        currency="INR",
        prices={
            CABG: (_d("450000.00"), 10, _d("98.50")),
            KNEE: (_d("320000.00"), 7, _d("97.00")),
            HIP: (_d("380000.00"), 7, _d("96.50")),
            IVF: (_d("180000.00"), 21, _d("45.00")),
        },
        doctors=[
            SeedDoctor(
                first_name="Ananya",
                last_name="Raghavan",
                email="ananya.raghavan@chj-institute.example.com",
                specialty="Cardiothoracic Surgery",
                qualification="MBBS, MS, MCh (CTVS)",
                experience_years=22,
                license_number="TNMC-48213",
                consultation_fee=_d("60.00"),
                languages=["en", "ta", "hi"],
                department="Cardiac Sciences",
            ),
            SeedDoctor(
                first_name="Vikram",
                last_name="Menon",
                email="vikram.menon@chj-institute.example.com",
                specialty="Orthopedic Surgery",
                qualification="MBBS, MS (Ortho), FRCS",
                experience_years=17,
                license_number="TNMC-51977",
                consultation_fee=_d("45.00"),
                languages=["en", "ml", "hi"],
                department="Orthopedics",
            ),
        ],
    ),
    SeedHospital(
        name="Bosphorus Medical Center",
        type="private",
        country="Turkey",
        city="Istanbul",
        address="Büyükdere Cd. No: 40, Maslak, 34398 Sarıyer/İstanbul",  # noqa: RUF001
        latitude=_d("41.10870000"),
        longitude=_d("29.02060000"),
        phone="+902123044444",
        email="patients@bosphorus-mc.example.com",
        website="https://bosphorus-mc.example.com",
        description="A private hospital group serving international patients since 1991.",
        certifications=["JCI"],
        specializations=["cosmetic", "dental", "ophthalmology"],
        currency="EUR",
        prices={
            HAIR: (_d("2200.00"), 3, _d("95.00")),
            RHINO: (_d("3500.00"), 7, _d("93.00")),
            DENTAL: (_d("650.00"), 5, _d("97.50")),
            LASIK: (_d("1400.00"), 2, _d("98.00")),
        },
        doctors=[
            SeedDoctor(
                first_name="Emre",
                last_name="Aydın",  # noqa: RUF001 - Turkish spelling
                email="emre.aydin@bosphorus-mc.example.com",
                specialty="Plastic Surgery",
                qualification="MD, Plastic & Reconstructive Surgery",
                experience_years=14,
                license_number="TTB-772310",
                consultation_fee=_d("50.00"),
                languages=["tr", "en", "de"],
                department="Aesthetic Surgery",
            ),
            SeedDoctor(
                first_name="Selin",
                last_name="Kaya",
                email="selin.kaya@bosphorus-mc.example.com",
                specialty="Ophthalmology",
                qualification="MD, FEBO",
                experience_years=11,
                license_number="TTB-803145",
                consultation_fee=_d("40.00"),
                languages=["tr", "en"],
                department="Eye Clinic",
            ),
        ],
    ),
    SeedHospital(
        name="Bangkok Riverside International Hospital",
        type="private",
        country="Thailand",
        city="Bangkok",
        address="33 Sukhumvit Soi 3, Khlong Toei Nuea, Watthana, Bangkok 10110",
        latitude=_d("13.74610000"),
        longitude=_d("100.55280000"),
        phone="+6620667888",
        email="intl@bkk-riverside.example.com",
        website="https://bkk-riverside.example.com",
        description="An international hospital with interpreters for over 20 languages.",
        certifications=["JCI", "HA Thailand"],
        specializations=["cardiology", "orthopedics", "ophthalmology", "fertility"],
        currency="THB",
        prices={
            CABG: (_d("950000.00"), 10, _d("98.00")),
            KNEE: (_d("520000.00"), 7, _d("97.00")),
            LASIK: (_d("75000.00"), 2, _d("98.50")),
            IVF: (_d("250000.00"), 21, _d("48.00")),
        },
        doctors=[
            SeedDoctor(
                first_name="Somchai",
                last_name="Wattanakul",
                email="somchai.wattanakul@bkk-riverside.example.com",
                specialty="Interventional Cardiology",
                qualification="MD, FACC",
                experience_years=19,
                license_number="TMC-30552",
                consultation_fee=_d("70.00"),
                languages=["th", "en"],
                department="Heart Center",
            ),
            SeedDoctor(
                first_name="Nicha",
                last_name="Srisuk",
                email="nicha.srisuk@bkk-riverside.example.com",
                specialty="Reproductive Medicine",
                qualification="MD, Dip. Thai Board of OB-GYN",
                experience_years=12,
                license_number="TMC-41208",
                consultation_fee=_d("55.00"),
                languages=["th", "en", "zh"],
                department="Fertility Center",
            ),
        ],
    ),
    SeedHospital(
        name="Pacific Coast Surgical & Dental Tijuana",
        type="private",
        country="Mexico",
        city="Tijuana",
        address="Av. Paseo de los Héroes 10999, Zona Urbana Río, 22010 Tijuana, B.C.",
        latitude=_d("32.52280000"),
        longitude=_d("-117.02140000"),
        phone="+526646356500",
        email="contact@pacific-coast-tj.example.com",
        website="https://pacific-coast-tj.example.com",
        description="Fifteen minutes from the San Diego border, with free crossing transfers.",
        certifications=["CSG"],
        specializations=["dental", "orthopedics", "cosmetic"],
        currency="USD",
        prices={
            DENTAL: (_d("1100.00"), 5, _d("97.00")),
            KNEE: (_d("12500.00"), 7, _d("96.00")),
            HIP: (_d("13500.00"), 7, _d("96.00")),
            RHINO: (_d("4200.00"), 7, _d("92.00")),
        },
        doctors=[
            SeedDoctor(
                first_name="Alejandro",
                last_name="Ruiz",
                email="alejandro.ruiz@pacific-coast-tj.example.com",
                specialty="Prosthodontics",
                qualification="DDS, MSc Prosthodontics",
                experience_years=15,
                license_number="CED-8841203",
                consultation_fee=_d("35.00"),
                languages=["es", "en"],
                department="Dental Clinic",
            ),
            SeedDoctor(
                first_name="Mariana",
                last_name="Torres",
                email="mariana.torres@pacific-coast-tj.example.com",
                specialty="Orthopedic Surgery",
                qualification="MD, CMOT",
                experience_years=13,
                license_number="CED-9012766",
                consultation_fee=_d("45.00"),
                languages=["es", "en"],
                department="Orthopedics",
            ),
        ],
    ),
    SeedHospital(
        name="Berlin Spree University Clinic",
        type="university",
        country="Germany",
        city="Berlin",
        address="Luisenstraße 64, 10117 Berlin",
        latitude=_d("52.52590000"),
        longitude=_d("13.37810000"),
        phone="+4930450500",
        email="international@spree-clinic.example.com",
        website="https://spree-clinic.example.com",
        description="A university hospital for complex cardiac and orthopedic cases.",
        certifications=["KTQ", "ISO 9001"],
        specializations=["cardiology", "orthopedics"],
        currency="EUR",
        prices={
            CABG: (_d("32000.00"), 12, _d("99.00")),
            HIP: (_d("14500.00"), 8, _d("98.00")),
            KNEE: (_d("13800.00"), 8, _d("97.50")),
        },
        doctors=[
            SeedDoctor(
                first_name="Katharina",
                last_name="Vogel",
                email="katharina.vogel@spree-clinic.example.com",
                specialty="Cardiac Surgery",
                qualification="Prof. Dr. med., FETCS",
                experience_years=25,
                license_number="AEKB-1187342",
                consultation_fee=_d("120.00"),
                languages=["de", "en"],
                department="Cardiac Surgery",
            ),
            SeedDoctor(
                first_name="Jonas",
                last_name="Becker",
                email="jonas.becker@spree-clinic.example.com",
                specialty="Orthopedic Surgery",
                qualification="Dr. med., Facharzt Orthopädie",
                experience_years=16,
                license_number="AEKB-1290455",
                consultation_fee=_d("90.00"),
                languages=["de", "en", "ru"],
                department="Orthopedics and Trauma Surgery",
            ),
        ],
    ),
]

PACKAGES: list[dict[str, Any]] = [
    {
        "name": "Chennai Cardiac Care Package",
        "country": "India",
        "hospital": "Chennai Heart & Joint Institute",
        "treatments": [CABG],
        "duration_days": 21,
        "base_price": _d("7800.00"),
        "currency": "USD",
        "accommodation_included": True,
        "transfers_included": True,
        "inclusions": [
            "Surgery and 10 days in hospital",
            "11 nights serviced apartment",
            "Airport transfers",
            "Interpreter",
            "Cardiac rehab sessions",
        ],
        "description": "Bypass surgery with recovery stay and rehabilitation in Chennai.",
    },
    {
        "name": "Istanbul Hair Transplant Package",
        "country": "Turkey",
        "hospital": "Bosphorus Medical Center",
        "treatments": [HAIR],
        "duration_days": 3,
        "base_price": _d("2600.00"),
        "currency": "EUR",
        "accommodation_included": True,
        "transfers_included": True,
        "inclusions": [
            "FUE up to 4,000 grafts",
            "2 nights 4-star hotel",
            "VIP transfers",
            "PRP session",
            "Aftercare kit",
        ],
        "description": "All-inclusive FUE hair transplant weekend in Istanbul.",
    },
    {
        "name": "Bangkok LASIK & Recovery Holiday",
        "country": "Thailand",
        "hospital": "Bangkok Riverside International Hospital",
        "treatments": [LASIK],
        "duration_days": 7,
        "base_price": _d("2900.00"),
        "currency": "USD",
        "accommodation_included": True,
        "transfers_included": True,
        "inclusions": [
            "LASIK both eyes",
            "6 nights hotel",
            "Airport transfers",
            "Two follow-up checks",
        ],
        "description": "Laser vision correction followed by a week in Bangkok.",
    },
    {
        "name": "Tijuana Smile Makeover Package",
        "country": "Mexico",
        "hospital": "Pacific Coast Surgical & Dental Tijuana",
        "treatments": [DENTAL],
        "duration_days": 5,
        "base_price": _d("4500.00"),
        "currency": "USD",
        "transfers_included": True,
        "inclusions": [
            "Four implants with crowns",
            "San Diego border transfers",
            "CT scan",
            "Temporary prosthesis",
        ],
        "description": "Four dental implants over two visits, with border crossing transfers.",
    },
    {
        "name": "Berlin Joint Replacement Package",
        "country": "Germany",
        "hospital": "Berlin Spree University Clinic",
        "treatments": [HIP, KNEE],
        "duration_days": 21,
        "base_price": _d("19500.00"),
        "currency": "EUR",
        "accommodation_included": True,
        "transfers_included": True,
        "inclusions": [
            "Hip or knee replacement",
            "8 days in hospital",
            "2 weeks inpatient rehabilitation",
            "Patient coordinator",
        ],
        "description": "Hip or knee replacement with German inpatient rehabilitation.",
    },
]

FAQS: list[dict[str, Any]] = [
    {
        "category": "general",
        "question": "How does Medivoy work?",
        "answer": "Choose a treatment and hospital, send your request with your medical "
        "details, and a coordinator gets you a quotation. Once you confirm and pay, we "
        "arrange the treatment dates and your travel.",
    },
    {
        "category": "general",
        "question": "Are the partner hospitals accredited?",
        "answer": "Every partner hospital holds a national or international accreditation "
        "(JCI, NABH, KTQ and others), listed on its profile.",
    },
    {
        "category": "payments",
        "question": "Which payment methods can I use?",
        "answer": "Cards through Stripe, and cards, UPI and net banking through Razorpay. "
        "You receive an invoice for every payment.",
    },
    {
        "category": "payments",
        "question": "Can I get a refund if I cancel?",
        "answer": "Yes. Request a refund from your booking; the amount depends on how close "
        "to the treatment date you cancel and what has been booked on your behalf.",
    },
    {
        "category": "consultations",
        "question": "Can I talk to a doctor before I travel?",
        "answer": "Yes. Book a video teleconsultation with a doctor of the hospital you "
        "are considering.",
    },
]

PAGES: list[dict[str, Any]] = [
    {
        "page_slug": "about",
        "title": "About Medivoy",
        "content": "Medivoy connects patients with accredited hospitals around the world and "
        "coordinates every step, from the first quotation to the flight home.",
        "meta_description": "Medivoy: medical treatment abroad, coordinated end to end.",
        "meta_keywords": "medical tourism, treatment abroad, hospitals",
    },
    {
        "page_slug": "privacy",
        "title": "Privacy Policy",
        "content": "We process your medical data only to arrange your care, share it only "
        "with the hospitals and doctors you choose, and delete it on request where the law "
        "allows.",
        "meta_description": "How Medivoy collects, uses and protects your personal data.",
        "meta_keywords": "privacy, GDPR, medical data",
    },
    {
        "page_slug": "terms",
        "title": "Terms of Service",
        "content": "Medivoy arranges treatment with independent hospitals; the medical "
        "services are provided by the hospital you choose.",
        "meta_description": "The terms that apply to using Medivoy.",
        "meta_keywords": "terms, conditions",
    },
]

INSURERS: list[dict[str, Any]] = [
    {
        "provider_name": "Global Health Assure",
        "country": "United Kingdom",
        "contact_email": "claims@globalhealthassure.example.com",
        "website": "https://globalhealthassure.example.com",
        "coverage_details": {
            "international": True,
            "elective_surgery": True,
            "max_cover_usd": 250000,
        },
    },
    {
        "provider_name": "TravelCare Medical",
        "country": "United States",
        "contact_email": "support@travelcare-medical.example.com",
        "website": "https://travelcare-medical.example.com",
        "coverage_details": {
            "international": True,
            "complications_cover": True,
            "max_cover_usd": 100000,
        },
    },
    {
        "provider_name": "Suraksha Health Insurance",
        "country": "India",
        "contact_email": "care@suraksha-health.example.com",
        "website": "https://suraksha-health.example.com",
        "coverage_details": {"international": False, "cashless_network": True},
    },
]

PLANS: list[dict[str, Any]] = [
    {
        "name": "Basic",
        "plan_type": "basic",
        "target_user": PlanTarget.HOSPITAL.value,
        "price_monthly": _d("199.00"),
        "price_yearly": _d("1990.00"),
        "max_doctors": 10,
        "max_appointments_per_month": 200,
        "features": ["Hospital profile", "Treatment listings", "Booking inbox"],
    },
    {
        "name": "Professional",
        "plan_type": "professional",
        "target_user": PlanTarget.HOSPITAL.value,
        "price_monthly": _d("499.00"),
        "price_yearly": _d("4990.00"),
        "max_doctors": 50,
        "max_appointments_per_month": 1000,
        "features": ["Everything in Basic", "Packages", "Analytics", "Priority listing"],
    },
    {
        "name": "Enterprise",
        "plan_type": "enterprise",
        "target_user": PlanTarget.HOSPITAL.value,
        "price_monthly": _d("1299.00"),
        "price_yearly": _d("12990.00"),
        "max_doctors": None,
        "max_appointments_per_month": None,
        "features": ["Everything in Professional", "Dedicated coordinator", "API access"],
    },
    {
        "name": "Basic",
        "plan_type": "basic",
        "target_user": PlanTarget.DOCTOR.value,
        "price_monthly": _d("29.00"),
        "price_yearly": _d("290.00"),
        "max_doctors": 1,
        "max_appointments_per_month": 60,
        "features": ["Doctor profile", "Teleconsultations"],
    },
    {
        "name": "Professional",
        "plan_type": "professional",
        "target_user": PlanTarget.DOCTOR.value,
        "price_monthly": _d("79.00"),
        "price_yearly": _d("790.00"),
        "max_doctors": 1,
        "max_appointments_per_month": None,
        "features": ["Everything in Basic", "Unlimited teleconsultations", "E-prescriptions"],
    },
]


SEEDED: tuple[type[Base], ...] = (
    Treatment,
    Hospital,
    HospitalTreatment,
    User,
    Doctor,
    HospitalDoctor,
    Package,
    Faq,
    WebsiteContent,
    Insurance,
    SubscriptionPlan,
)


class _Seeder:
    def __init__(self, db: AsyncSession) -> None:
        self.db = db
        self.created: dict[str, int] = {model.__tablename__: 0 for model in SEEDED}

    async def find(self, model: type[M], key: dict[str, Any]) -> M | None:
        return await self.db.scalar(select(model).filter_by(**key).limit(1))

    async def create(self, model: type[M], key: dict[str, Any], **values: Any) -> M:
        row = model(**key, **values)
        self.db.add(row)
        await self.db.flush()
        self.created[model.__tablename__] += 1
        return row

    async def ensure(self, model: type[M], key: dict[str, Any], **values: Any) -> M:
        """The row with these natural key values, created with `values` if it is missing."""
        return await self.find(model, key) or await self.create(model, key, **values)


async def seed(sessionmaker: async_sessionmaker[AsyncSession]) -> dict[str, int]:
    """Create whatever of the demo catalog is missing; returns the rows created per table."""
    async with sessionmaker() as db, db.begin():
        s = _Seeder(db)

        treatments: dict[str, Treatment] = {}
        for t in TREATMENTS:
            treatments[t["name"]] = await s.ensure(
                Treatment, {"name": t["name"]}, **{k: v for k, v in t.items() if k != "name"}
            )

        hospitals: dict[str, Hospital] = {}
        for h in HOSPITALS:
            hospital = await s.ensure(
                Hospital,
                {"name": h.name},
                type=h.type,
                country=h.country,
                city=h.city,
                address=h.address,
                latitude=h.latitude,
                longitude=h.longitude,
                phone=h.phone,
                email=h.email,
                website=h.website,
                description=h.description,
                certifications=h.certifications,
                specializations=h.specializations,
                is_verified=True,
            )
            hospitals[h.name] = hospital
            for treatment_name, (price, days, success) in h.prices.items():
                await s.ensure(
                    HospitalTreatment,
                    {"hospital_id": hospital.id, "treatment_id": treatments[treatment_name].id},
                    base_price=price,
                    currency=h.currency,
                    duration_days=days,
                    success_rate=success,
                )
            for d in h.doctors:
                # Nobody knows the password: the doctor sets one through a password reset.
                # Looked up first so the (deliberately slow) hash runs only for new doctors.
                user = await s.find(User, {"email": d.email}) or await s.create(
                    User,
                    {"email": d.email},
                    password_hash=hash_password(secrets.token_urlsafe(32)),
                    user_type=Role.DOCTOR.value,
                    first_name=d.first_name,
                    last_name=d.last_name,
                    is_verified=True,
                    is_approved=True,
                )
                doctor = await s.ensure(
                    Doctor,
                    {"user_id": user.id},
                    specialty=d.specialty,
                    qualification=d.qualification,
                    experience_years=d.experience_years,
                    license_number=d.license_number,
                    bio=f"Dr. {d.first_name} {d.last_name}, {d.specialty.lower()}, "
                    f"{d.experience_years} years of practice, at {h.name}.",
                    consultation_fee=d.consultation_fee,
                    languages=d.languages,
                    timezone=COUNTRY_ZONES.get(h.country, "UTC"),
                    weekly_hours=WEEKDAY_MORNINGS,
                    slot_minutes=30,
                    minimum_notice_hours=12,
                )
                await s.ensure(
                    HospitalDoctor,
                    {"hospital_id": hospital.id, "doctor_id": doctor.id},
                    department=d.department,
                    is_primary=True,
                )

        for p in PACKAGES:
            values = {k: v for k, v in p.items() if k not in ("name", "hospital", "treatments")}
            await s.ensure(
                Package,
                {"name": p["name"]},
                hospital_ids=[str(hospitals[p["hospital"]].id)],
                treatment_ids=[str(treatments[name].id) for name in p["treatments"]],
                **values,
            )

        for order, faq in enumerate(FAQS, start=1):
            await s.ensure(
                Faq,
                {"question": faq["question"]},
                answer=faq["answer"],
                category=faq["category"],
                display_order=order,
            )
        for page in PAGES:
            await s.ensure(
                WebsiteContent,
                {"page_slug": page["page_slug"]},
                **{k: v for k, v in page.items() if k != "page_slug"},
            )
        for insurer in INSURERS:
            await s.ensure(
                Insurance,
                {"provider_name": insurer["provider_name"]},
                **{k: v for k, v in insurer.items() if k != "provider_name"},
            )
        for plan in PLANS:
            await s.ensure(
                SubscriptionPlan,
                {"name": plan["name"], "target_user": plan["target_user"]},
                currency="USD",
                **{k: v for k, v in plan.items() if k not in ("name", "target_user")},
            )
        return s.created
