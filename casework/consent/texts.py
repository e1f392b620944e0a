"""The consent texts shipped with Casework, per version and language.

A text is copied into the ``consent_forms`` table the first time a consent is recorded on it
(``service.form_for``) and never changed there; a consent records the SHA-256 of the text.
A new wording is a new version: add it here (old versions stay, consents refer to them).
"""

from __future__ import annotations

CURRENT_VERSION = "2026-1"
# The languages every version has; consent given in another language is recorded on the
# English text (read out through an interpreter, whose name is recorded).
FALLBACK_LANGUAGE = "en"

TEXTS: dict[str, dict[str, str]] = {
    "2026-1": {
        "en": (
            "We keep a record of the support you receive so that we can help you safely. "
            "We will only share information about you with another organisation if you agree, "
            "and only the kinds of information you choose. You can say no, and you can change "
            "your mind at any time: tell your caseworker and we will stop sharing at once. "
            "Saying no does not change the help you receive from us."
        ),
        "es": (
            "Guardamos un registro del apoyo que recibe para poder ayudarle de forma segura. "
            "Solo compartiremos información sobre usted con otra organización si usted está de "
            "acuerdo, y solo el tipo de información que usted elija. Puede decir que no y puede "
            "cambiar de opinión en cualquier momento: dígaselo a su trabajador o trabajadora de "
            "casos y dejaremos de compartirla de inmediato. Decir que no no cambia la ayuda que "
            "recibe de nosotros."
        ),
        "fr": (
            "Nous conservons un dossier de l’accompagnement que vous recevez afin de pouvoir "
            "vous aider en toute sécurité. Nous ne partagerons des informations vous concernant "
            "avec une autre organisation que si vous êtes d’accord, et seulement les types "
            "d’informations que vous choisissez. Vous pouvez refuser et changer d’avis à tout "
            "moment : dites-le à votre référent et nous cesserons immédiatement le partage. "
            "Refuser ne change rien à l’aide que vous recevez de notre part."
        ),
        "ar": (
            "نحتفظ بسجل للدعم الذي تتلقاه حتى نتمكن من مساعدتك بأمان. لن نشارك أي معلومات "
            "عنك مع منظمة أخرى إلا إذا وافقت، ولن نشارك إلا أنواع المعلومات التي تختارها. "
            "يمكنك الرفض، ويمكنك تغيير رأيك في أي وقت: أخبر مسؤول حالتك وسنتوقف عن المشاركة "
            "فورًا. الرفض لا يغيّر المساعدة التي تتلقاها منا."
        ),
        "th": (
            "เราเก็บบันทึกความช่วยเหลือที่คุณได้รับ เพื่อให้เราช่วยเหลือคุณได้อย่างปลอดภัย "
            "เราจะแบ่งปันข้อมูลเกี่ยวกับคุณกับองค์กรอื่นก็ต่อเมื่อคุณยินยอมเท่านั้น "
            "และเฉพาะประเภทข้อมูลที่คุณเลือก คุณปฏิเสธได้ และเปลี่ยนใจได้ทุกเมื่อ "
            "โดยแจ้งเจ้าหน้าที่ดูแลกรณีของคุณ แล้วเราจะหยุดแบ่งปันทันที "
            "การปฏิเสธไม่มีผลต่อความช่วยเหลือที่คุณได้รับจากเรา"
        ),
        "vi": (
            "Chúng tôi lưu hồ sơ về sự hỗ trợ mà bạn nhận được để có thể giúp bạn một cách an "
            "toàn. Chúng tôi chỉ chia sẻ thông tin về bạn với một tổ chức khác khi bạn đồng ý, "
            "và chỉ những loại thông tin mà bạn chọn. Bạn có thể từ chối và có thể thay đổi ý "
            "định bất cứ lúc nào: hãy báo cho cán bộ phụ trách hồ sơ của bạn và chúng tôi sẽ "
            "ngừng chia sẻ ngay lập tức. Việc từ chối không làm thay đổi sự giúp đỡ bạn nhận "
            "được từ chúng tôi."
        ),
    },
}


def available(version: str, language: str) -> bool:
    return language in TEXTS.get(version, {})
