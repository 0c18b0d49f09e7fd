"""Routing classifier: a table of realistic parent messages and the misroute rate over it.

The table holds messages as parents write them (Indonesian with chat spelling, English, a little
code-switching), with the category a school would route them to, ``None`` when a person would
have to ask what the message is about, and the subject when one is named. A message counts as
misrouted when the returned group differs from the expected group; for an expected-unclear
message, any confident category is a misroute. Run ``pytest -s tests/test_classifier.py`` to see
the figures.

The first table (ID_CASES + EN_CASES) was written before the lexicon and the lexicon was then
tuned on it. Each later table was written fresh and measured once before it, too, was used for
tuning; those first-run figures are the honest estimate for unseen messages:
HELDOUT_CASES 28/71 misrouted (39.4%, 3 of them confidently wrong, the rest "unclear"),
VALIDATION_CASES 32/80 (40.0%, 4 confidently wrong), FRESH_CASES 19/71 (26.8%, 4 confidently
wrong). Most misses on unseen text are "unclear", so the bot asks with buttons rather than
sending the concern to the wrong person.
"""

from __future__ import annotations

from collections import defaultdict

import pytest

from handlers.classifier import CATEGORIES, GROUPS, Classification, classify, evidence, group_of

SUBJECTS = ["Matematika", "IPA", "IPS", "Bahasa Indonesia", "Bahasa Inggris", "PJOK",
            "Seni Budaya", "PAI"]

# (message, expected category or None when unclear, expected subject or None)
ID_CASES: list[tuple[str, str | None, str | None]] = [
    # bullying
    ("Bu, anak saya katanya dibully sama teman sekelasnya, dia sampai gak mau cerita", "bullying",
     None),
    ("Selamat siang pak, anak sy sering diejek temannya karena badannya gendut", "bullying", None),
    ("Anak saya dipalak kakak kelas di kantin, uang jajannya diambil terus", "bullying", None),
    ("Bu mohon maaf, Rizky pulang dengan lebam di tangan, katanya dipukul temannya di kelas",
     "bullying", None),
    ("anak saya dikucilkan di grup WA kelas, diejek terus sama teman2nya", "bullying", None),
    ("Pak, anak saya dibully di kelas matematika, diketawain pas maju ke depan", "bullying",
     "Matematika"),
    ("Ada kakak kelas yang ngancam anak saya di toilet sekolah", "bullying", None),
    ("Bu anak saya pulang nangis katanya diejek jelek sama temen cowoknya", "bullying", None),
    # behaviour
    ("Bu, saya dapat kabar anak saya bolos sekolah kemarin, tapi dari rumah dia berangkat",
     "behaviour", None),
    ("Anak saya ketahuan merokok di belakang sekolah, saya malu sekali bu", "behaviour", None),
    ("Pak, anak saya berantem sama temannya sampai berdarah, saya minta maaf", "behaviour", None),
    ("Anak sy skrg sering bohong, bilangnya ke sekolah ternyata main di warnet", "behaviour", None),
    ("Anak saya kecanduan main HP sampai jam 2 malam, susah dibangunin", "behaviour", None),
    ("Bu, anak saya dilaporkan melawan guru di kelas, apa benar?", "behaviour", None),
    ("anak saya sering ngomong kasar skrg, katanya ikut2an temen di sekolah", "behaviour", None),
    ("Bu, tadi anak saya bilang hpnya disita guru, kenapa ya?", "behaviour", None),
    # emotions
    ("Bu, akhir-akhir ini anak saya sering nangis sendiri di kamar dan gak mau cerita",
     "emotions", None),
    ("Anak saya kelihatan murung terus sejak semester ini, makan juga sedikit", "emotions", None),
    ("Pak, anak saya cemas berlebihan tiap mau ujian sampai sakit perut", "emotions", None),
    ("Anak sy bilang dia capek hidup, saya khawatir sekali bu", "emotions", None),
    ("Anak saya gampang marah dan stres akhir2 ini", "emotions", None),
    ("Dia jadi minder dan gak percaya diri setelah pindah ke sekolah ini", "emotions", None),
    ("Anak saya lagi sakit hati karena diputusin pacarnya, jadi murung", "emotions", None),
    # friendships
    ("Bu, anak saya gak punya teman di kelas, tiap istirahat sendirian terus", "friendships", None),
    ("Anak saya lagi musuhan sama sahabatnya, sampai gak mau berangkat sekolah", "friendships",
     None),
    ("Anak saya susah bergaul, katanya teman2nya gak ada yang mau main sama dia", "friendships",
     None),
    ("Pak, anak saya dijauhi teman satu gengnya, dia sedih banget", "friendships", None),
    # family
    ("Bu, saya dan ayahnya sedang proses cerai, mohon anak saya diperhatikan di sekolah",
     "family", None),
    ("Kakek anak saya baru meninggal minggu lalu, dia masih sangat terpukul", "family", None),
    ("Mohon maaf bu, kondisi di rumah sedang tidak baik, saya dan suami sering bertengkar dan "
     "anak jadi korban", "family", None),
    ("Ayahnya kerja di luar kota jadi anak saya sekarang tinggal sama neneknya", "family", None),
    ("Orang tua nya sudah pisah, anak saya ikut saya, tolong info ke wali kelas", "family", None),
    # motivation
    ("Anak saya malas belajar banget bu, tiap disuruh belajar alasannya capek", "motivation", None),
    ("anak sy gak semangat sekolah lagi, tiap pagi susah dibangunin", "motivation", None),
    ("Pak, anak saya bilang sekolah itu gak penting, dia mau kerja aja", "motivation", None),
    ("Dia udah gak ada motivasi, nilai turun juga karena males", "motivation", None),
    ("Gimana caranya biar anak saya mau belajar di rumah? tiap disuruh main HP terus",
     "motivation", None),
    # study and career
    ("Bu, anak saya bingung mau ambil jurusan IPA atau IPS waktu kelas 11", "study_career", "IPA"),
    ("Anak saya mau lanjut ke SMK atau SMA ya bu, minta saran", "study_career", None),
    ("Pak, bagaimana caranya daftar SNBP? anak saya pengen kuliah kedokteran", "study_career",
     None),
    ("Anak saya pengen jadi programmer, kira2 kuliah jurusan apa yang cocok?", "study_career",
     None),
    ("mohon info beasiswa untuk lanjut kuliah bu", "study_career", None),
    # academic
    ("Bu, nilai matematika anak saya turun terus, apa ada les tambahan?", "academic", "Matematika"),
    ("anak sy gk ngerti pelajaran mtk bu, PRnya susah bgt", "academic", "Matematika"),
    ("Pak, anak saya harus remedial IPA ya? kapan jadwalnya?", "academic", "IPA"),
    ("Nilai ulangan bahasa inggris anak saya 45, apa bisa ada perbaikan?", "academic",
     "Bahasa Inggris"),
    ("Bu PR nya dikumpulkan kapan ya? anak saya lupa catat", "academic", None),
    ("Nilai rapor anak saya jelek semua, apa yang harus kami lakukan?", "academic", None),
    ("Apakah anak saya terancam tidak naik kelas bu?", "academic", None),
    ("Bu guru, tugas prakarya anak saya sudah dikumpulkan belum ya?", "academic", None),
    ("anak saya blm ngerjain tugas IPS krn gak ngerti, boleh minta penjelasan?", "academic",
     "IPS"),
    ("Kenapa nilai PJOK anak saya cuma 70, padahal dia rajin ikut olahraga", "academic", "PJOK"),
    ("matematika", "academic", "Matematika"),
    ("Kapan jadwal ujian akhir semester bu?", "academic", None),
    ("Bu, nilai agama anak sy kosong di rapor, apa ada tugas yg belum?", "academic", "PAI"),
    ("Pak anak saya kesulitan membaca, tertinggal dari teman-temannya", "academic", None),
    ("hasil ujian seni budaya anak saya belum keluar ya bu?", "academic", "Seni Budaya"),
    ("Pak, kapan pembagian rapor semester ini?", "academic", None),
    ("Bu, b. indo anak saya dapat 60, kira2 kurang di bagian mana ya", "academic",
     "Bahasa Indonesia"),
    # absence
    ("Selamat pagi bu, mohon izin anak saya hari ini tidak masuk karena sakit demam", "absence",
     None),
    ("Bu, Aisyah izin gk masuk ya, ada acara keluarga di kampung", "absence", None),
    ("pak, anak sy sakit, hari ini ga bisa sekolah dulu", "absence", None),
    ("Anak saya dirawat di rumah sakit sejak kemarin, mohon dimaklumi tidak hadir", "absence",
     None),
    ("Mohon izin bu, besok anak saya terlambat karena kontrol ke dokter", "absence", None),
    ("Izin pulang cepat jam 10 bu, mau ke acara nikahan saudara", "absence", None),
    ("anak saya tdk masuk 3 hari krn tipes, nanti saya kirim surat dokter", "absence", None),
    ("Bu mau tanya, anak saya kemarin dicatat alpa padahal sudah izin lewat WA", "absence", None),
    ("anak saya diare dari semalem, izin ya bu", "absence", None),
    ("Maaf bu, anak saya sick hari ini jadi gak bisa masuk", "absence", None),
    # fees
    ("Bu, uang komite bulan ini bisa dicicil gak ya? lagi seret", "fees", None),
    ("SPP bulan Maret sudah saya transfer, mohon dicek bu", "fees", None),
    ("Berapa biaya study tour kelas 8 ya pak?", "fees", None),
    ("Pembayaran seragam bisa lewat transfer atau harus tunai?", "fees", None),
    ("Pak saya mau tanya tunggakan anak saya masih berapa?", "fees", None),
    ("Bu, bukti bayar uang gedung saya kirim ke siapa ya?", "fees", None),
    ("Apakah ada keringanan biaya untuk keluarga tidak mampu?", "fees", None),
    # documents
    ("Bu, ijazah SD anak saya hilang, bisa minta surat keterangan pengganti?", "documents", None),
    ("Saya mau legalisir rapor anak saya untuk daftar SMA, bisa kapan?", "documents", None),
    ("Pak, kami mau pindah ke Surabaya, bagaimana cara urus surat pindah sekolah?", "documents",
     None),
    ("Kartu pelajar anak saya hilang, bisa dibuatkan lagi?", "documents", None),
    ("Mohon dibuatkan surat keterangan aktif sekolah untuk keperluan BPJS", "documents", None),
    ("Raport anak saya rusak kena air, bisa dicetak ulang bu?", "documents", None),
    ("Nama anak saya salah ketik di NISN/Dapodik, gimana cara benerinnya?", "documents", None),
    # unclear: a person would have to ask
    ("halo bu", None, None),
    ("Selamat pagi pak", None, None),
    ("mau tanya bu", None, None),
    ("ok", None, None),
    ("", None, None),
    ("Assalamualaikum bu, maaf mengganggu", None, None),
    ("terima kasih banyak bu 🙏", None, None),
    ("Bu, bisa telpon sebentar?", None, None),
    ("Pak saya mau bicara soal anak saya", None, None),
    ("Bu ada waktu besok? Saya mau ketemu", None, None),
    ("Bu, boleh minta nomor wali kelas?", None, None),
]

EN_CASES: list[tuple[str, str | None, str | None]] = [
    ("Hi, my son told me he's being bullied by older students on the bus", "bullying", None),
    ("My daughter is being picked on and called names in class every day", "bullying", None),
    ("Someone keeps posting mean things about my kid in the class group chat", "bullying", None),
    ("I was told my son got into a fight during recess. What happened?", "behaviour", None),
    ("My son has been skipping school and lying about it", "behaviour", None),
    ("She's been really anxious and crying before school every morning", "emotions", None),
    ("My son seems depressed lately and doesn't want to talk to anyone", "emotions", None),
    ("My daughter has no friends in her new class and eats lunch alone", "friendships", None),
    ("He had a falling out with his best friend and is very upset", "friendships", None),
    ("We are going through a divorce, please keep an eye on her", "family", None),
    ("Her grandmother passed away last week, she may be a bit quiet", "family", None),
    ("He's lost all motivation and says school is pointless", "motivation", None),
    ("My daughter can't decide which university major to choose, can the counselor help?",
     "study_career", None),
    ("Could someone advise on career options for my son after graduation?", "study_career", None),
    ("My son's math grades have dropped a lot this term", "academic", "Matematika"),
    ("What was the homework for science today? He forgot to write it down", "academic", "IPA"),
    ("Is there a remedial test for the English exam?", "academic", "Bahasa Inggris"),
    ("Why did my daughter get a low mark on her report card in social studies?", "academic",
     "IPS"),
    ("He's struggling with reading and falling behind", "academic", None),
    ("My son is sick with a fever and won't be in school today", "absence", None),
    ("Please excuse my daughter's absence tomorrow, we have a family wedding", "absence", None),
    ("She has a doctor's appointment and will arrive late", "absence", None),
    ("How much is the school fee for next semester?", "fees", None),
    ("I paid the committee fee by bank transfer, can you confirm the payment?", "fees", None),
    ("Can I pay the tuition in installments this month?", "fees", None),
    ("I need a certified copy of my son's diploma", "documents", None),
    ("We're moving abroad and need a transfer letter and his transcript", "documents", None),
    ("Can the school issue a certificate of enrollment for her visa application?", "documents",
     None),
    ("Hello, good morning", None, None),
    ("Thanks!", None, None),
    ("Can I ask something?", None, None),
    ("Hi teacher, is this the right number?", None, None),
    ("He forgot his PE kit again, can he still join the lesson?", "academic", "PJOK"),
]

# Written after the first version of the lexicon and measured once before any lexicon change,
# as a check that the lexicon is not fitted to the table above; kept in the table since.
HELDOUT_CASES: list[tuple[str, str | None, str | None]] = [
    ("bu tolong dicek, anak saya cerita tiap hari dikatain 'bodoh' sama anak kelas sebelah",
     "bullying", None),
    ("Pak, sepatu anak saya disembunyiin terus sama temen sekelasnya, udah 3 kali", "bullying",
     None),
    ("anak saya dipaksa ngasih jawaban ulangan sama temennya, kalo gak mau diancam", "bullying",
     None),
    ("Foto anak saya diedit jelek terus disebar di IG sama anak2 kelasnya", "bullying", None),
    ("anak saya nyontek pas ulangan dan ketahuan guru, saya minta maaf atas kelakuannya",
     "behaviour", None),
    ("Pak, anak saya sering keluar kelas tanpa izin katanya, benar begitu?", "behaviour", None),
    ("Anak saya dan temannya ketahuan bawa rokok elektrik ke sekolah", "behaviour", None),
    ("anak sy suka jail ke adik kelas, tolong ditegur ya bu", "behaviour", None),
    ("Anak saya sering mengeluh pusing dan deg-degan kalau mau berangkat sekolah", "emotions",
     None),
    ("bu, anak saya kayaknya lagi ada masalah, pulang sekolah langsung masuk kamar dan diem aja",
     "emotions", None),
    ("Anak saya takut sekali ke sekolah sejak kejadian kemarin", "emotions", None),
    ("Bu anak sy susah tidur dan sering ngelamun, saya khawatir ada apa2", "emotions", None),
    ("anak saya katanya gak diajak main sama temen2nya waktu istirahat", "friendships", None),
    ("Bu, anak saya baru pindah dan belum punya teman, mohon dibantu", "friendships", None),
    ("Anak saya bertengkar dengan sahabatnya dan sekarang tidak saling sapa", "friendships", None),
    ("Bu, mohon maaf anak saya mungkin kurang fokus karena ibunya baru melahirkan adiknya",
     "family", None),
    ("Papanya anak saya baru saja meninggal dunia, mohon bimbingannya bu", "family", None),
    ("Saya single parent dan kerja sampai malam, anak sering sendiri di rumah", "family", None),
    ("Ada masalah di rumah yang bikin anak saya tertekan, bisa konsultasi dengan guru BK?",
     "family", None),
    ("anak saya udah gak mau ngerjain apa2, katanya percuma sekolah", "motivation", None),
    ("Pak, gimana ya bikin anak saya rajin belajar? kerjaannya cuma tidur", "motivation", None),
    ("Anak sy tiap pagi alasan sakit perut biar gak sekolah, padahal sehat", "motivation", None),
    ("bu, kalau mau masuk teknik sipil di ITB harus ambil apa dari sekarang?", "study_career",
     None),
    ("Anak saya pengen masuk pondok pesantren setelah lulus SMP, gimana prosedurnya?",
     "study_career", None),
    ("Minta info pendaftaran sekolah kedinasan untuk anak saya pak", "study_career", None),
    ("Bu, anak saya dapat nilai 50 di ulangan harian fisika, gimana cara ngejarnya?", "academic",
     "IPA"),
    ("Kapan ada susulan ulangan bu? anak saya kemarin sakit", "academic", None),
    ("Bu, anak saya kesulitan di pelajaran bahasa inggris, ada les sore di sekolah?", "academic",
     "Bahasa Inggris"),
    ("tugas kelompok seni budaya dikumpul hari apa ya bu", "academic", "Seni Budaya"),
    ("Bu, hafalan surat anak saya sudah sampai mana ya?", "academic", None),
    ("nilai UTS mtk anak saya kok cuma 40 pak", "academic", "Matematika"),
    ("Kenapa anak saya tidak ikut olimpiade sains padahal nilainya bagus?", "academic", "IPA"),
    ("Bu, anak saya hari ini ijin ya, ada urusan keluarga", "absence", None),
    ("assalamualaikum bu, anak sy lagi kurang enak badan, hari ini istirahat di rumah dulu",
     "absence", None),
    ("Pak, anak saya kecelakaan motor, kakinya patah, mungkin seminggu gak sekolah", "absence",
     None),
    ("Izin bu, anak saya ikut lomba silat tingkat kabupaten jadi 2 hari tidak masuk", "absence",
     None),
    ("Bu, untuk uang kegiatan bulan ini ditransfer ke rekening mana?", "fees", None),
    ("Mau tanya pak, rincian biaya perpisahan kelas 9 berapa ya", "fees", None),
    ("Saya belum sanggup bayar uang seragam, bisa diberi waktu?", "fees", None),
    ("Apakah tabungan anak saya bisa diambil sekarang bu?", "fees", None),
    ("Bu, saya perlu fotokopi rapor yang dilegalisir untuk daftar beasiswa", "documents", None),
    ("pak, akta kelahiran anak saya sudah saya kumpulkan belum ya untuk data sekolah?",
     "documents", None),
    ("Gimana cara ambil ijazah kakaknya yang sudah lulus tahun lalu?", "documents", None),
    ("Bu, mohon surat keterangan siswa aktif buat pengajuan KIP", "documents", None),
    ("Pak, nanti saya ke sekolah ya", None, None),
    ("Bu wali, ini nomor baru saya", None, None),
    ("maaf bu baru balas", None, None),
    ("Siap bu, terima kasih infonya", None, None),
    ("Bu ini dengan siapa ya?", None, None),
    # English
    ("A boy in her class keeps taking her lunch and shoving her", "bullying", None),
    ("My son says kids laugh at his accent and he's embarrassed to speak", "bullying", None),
    ("I got a call that my son was sent to the principal's office for swearing at a teacher",
     "behaviour", None),
    ("My daughter vapes, I found one in her bag. Can the school help?", "behaviour", None),
    ("He's been having panic attacks at night before exams", "emotions", None),
    ("She doesn't seem herself lately, very withdrawn and tearful", "emotions", None),
    ("My son struggles to make friends and feels left out at break time", "friendships", None),
    ("Her father and I have separated and she is taking it hard", "family", None),
    ("We just lost our home in a fire and the kids are staying with relatives", "family", None),
    ("He just doesn't care about school anymore, nothing I say helps", "motivation", None),
    ("Which subjects should she pick if she wants to be an engineer?", "study_career", None),
    ("What topics will be on the science test next week?", "academic", "IPA"),
    ("Can my daughter get extra help with algebra?", "academic", "Matematika"),
    ("Her Bahasa Indonesia score dropped, is there anything we can do at home?", "academic",
     "Bahasa Indonesia"),
    ("My son will be absent Monday and Tuesday for a family trip", "absence", None),
    ("She woke up with a stomach bug, keeping her home today", "absence", None),
    ("Is the payment for the field trip due this Friday?", "fees", None),
    ("Where do I send proof of the transfer for this month's fees?", "fees", None),
    ("We need his school records for the new school in Jakarta", "documents", None),
    ("Could I get a letter confirming my daughter is a student here?", "documents", None),
    ("Ok thank you ma'am", None, None),
    ("Good afternoon sir, hope you're well", None, None),
]

# Written after the second lexicon revision (which used both tables above) and measured once
# before any further change, as a fresh check; kept in the table since.
VALIDATION_CASES: list[tuple[str, str | None, str | None]] = [
    ("Bu, anak saya cerita ada teman yang suka minta2 uang ke dia dengan paksa", "bullying",
     None),
    ("Pak, tas anak saya dirusak teman sekelasnya, sudah yang kedua kali", "bullying", None),
    ("anak saya sering dijadikan bahan ketawaan di kelas bu, dia jadi gak pede", "bullying",
     None),
    ("bu, anak sy ditampar kakak kelasnya td siang, tolong ditindak", "bullying", None),
    ("Maaf pak, anak saya ketahuan ambil barang temannya, saya sudah tegur di rumah",
     "behaviour", None),
    ("Bu, saya dengar anak saya sering tidur di kelas dan tidak memperhatikan guru", "behaviour",
     None),
    ("Anak saya pulang sekolah selalu jam 9 malam, katanya nongkrong sama temen, saya khawatir",
     "behaviour", None),
    ("Pak, anak saya kena skors 3 hari, boleh saya tahu alasannya?", "behaviour", None),
    ("Bu, anak saya sekarang gampang tersinggung dan sering membanting pintu", "emotions", None),
    ("Anak saya kelihatan stress berat menjelang ujian nasional", "emotions", None),
    ("Sudah seminggu anak saya tidak mau makan dan terus mengurung diri", "emotions", None),
    ("bu, anak saya nanya terus apakah dia anak yang bodoh, dia merasa tidak berguna",
     "emotions", None),
    ("Anak saya merasa gak ada yang mau berteman sama dia di kelas baru", "friendships", None),
    ("Bu, anak saya dan teman sebangkunya lagi ribut, bisa dipindah tempat duduknya?",
     "friendships", None),
    ("Anak saya terlalu bergantung ke satu teman, kalau temannya gak masuk dia ikut gak mau "
     "sekolah", "friendships", None),
    ("Bu, saya baru saja ditinggal suami, anak saya sering tanya kapan ayahnya pulang", "family",
     None),
    ("Pak, nenek yang selama ini mengasuh anak saya sedang sakit keras di rumah sakit", "family",
     None),
    ("Kami sekeluarga sedang ada masalah ekonomi, anak saya jadi ikut kepikiran", "family", None),
    ("anak saya gak mau belajar sama sekali, hp terus dari pulang sekolah", "motivation", None),
    ("Bu, anak saya bilang sudah capek sekolah dan ingin berhenti saja", "motivation", None),
    ("Pak, anak saya tidak ada semangat, nilai-nilainya jadi berantakan", "motivation", None),
    ("Bu, kira-kira anak saya lebih cocok masuk IPA atau IPS ya berdasarkan nilainya?",
     "study_career", "IPA"),
    ("Anak saya mau daftar sekolah pelayaran, ada rekomendasi?", "study_career", None),
    ("Pak, apa sekolah ada program bimbingan masuk PTN?", "study_career", None),
    ("Anak saya tertarik jadi desainer, sebaiknya lanjut SMK jurusan apa?", "study_career",
     None),
    ("Bu, anak saya nilai IPA nya di bawah KKM, ada remedial?", "academic", "IPA"),
    ("Maaf bu, anak saya lupa bawa buku tugas matematika, bisa dikumpulkan besok?", "academic",
     "Matematika"),
    ("Kalau boleh tahu, materi PTS bahasa indonesia apa saja ya bu?", "academic",
     "Bahasa Indonesia"),
    ("Pak, anak saya belum bisa baca lancar padahal sudah kelas 3", "academic", None),
    ("Bu, kenapa nilai sikap anak saya di rapor C?", "academic", None),
    ("Bu, apa ada kelas tambahan untuk persiapan ujian sekolah?", "academic", None),
    ("tugas PAI yang disuruh bikin video itu dikumpul kemana bu?", "academic", "PAI"),
    ("Anak saya minta diajari pecahan tapi saya juga gak ngerti, bisa dijelaskan lagi di kelas?",
     "academic", "Matematika"),
    ("Bu, anak saya demam tinggi sejak semalam, hari ini izin dulu", "absence", None),
    ("Pak, mohon maaf Dimas hari ini terlambat karena ban motor bocor", "absence", None),
    ("Anak saya hari Jumat ikut keluarga ke luar kota, mohon izinnya ya bu", "absence", None),
    ("bu maaf td anak sy pulang duluan krn sakit gigi, sudah pamit ke guru piket", "absence",
     None),
    ("Anak saya tidak masuk karena harus menemani neneknya operasi", "absence", None),
    ("Bu, pembayaran untuk buku LKS berapa dan bayar ke siapa?", "fees", None),
    ("SPP bulan ini telat saya bayar ya bu, gajian tanggal 10", "fees", None),
    ("Pak, apakah uang ekstrakurikuler wajib dibayar?", "fees", None),
    ("Bu, kemarin saya sudah transfer 500rb tapi belum ada konfirmasi", "fees", None),
    ("Bu, apakah ada potongan biaya untuk anak kedua?", "fees", None),
    ("Pak, saya butuh surat keterangan bahwa anak saya sekolah di sini untuk tunjangan kantor",
     "documents", None),
    ("Bu, NISN anak saya belum muncul di data, bagaimana ya?", "documents", None),
    ("Ijazah kakaknya ada salah tanggal lahir, bisa diperbaiki?", "documents", None),
    ("Bu, kapan rapor asli bisa diambil? Saya mau pindahkan anak ke sekolah lain", "documents",
     None),
    ("Pak, untuk daftar ulang berkas apa saja yang dibawa?", "documents", None),
    ("bu, maaf ganggu malam2", None, None),
    ("Halo pak, saya ibunya Rina kelas 7B", None, None),
    ("Iya bu siap", None, None),
    ("Bu, bisa minta waktunya sebentar untuk ngobrol soal anak saya?", None, None),
    ("Pak tolong hubungi saya ya", None, None),
    ("Pagi bu 🙏", None, None),
    # English
    ("My son said some boys cornered him in the bathroom and took his phone", "bullying", None),
    ("Kids on the group chat have been sending her nasty messages", "bullying", None),
    ("I'm worried about his attitude, he talks back to teachers and got a warning letter",
     "behaviour", None),
    ("She was caught cheating on the quiz yesterday. I'd like to discuss", "behaviour", None),
    ("He seems very stressed and isn't sleeping well", "emotions", None),
    ("My daughter has been having a hard time since her cat died, she cries a lot", "emotions",
     None),
    ("She says nobody wants to sit with her at lunch", "friendships", None),
    ("My son and his best mate aren't talking anymore and he's gutted", "friendships", None),
    ("Things are difficult at home right now, my husband lost his job", "family", None),
    ("My wife is in the hospital and I'm raising the kids alone for now", "family", None),
    ("He won't do any work unless I sit with him, he just doesn't see the point", "motivation",
     None),
    ("What A-level subjects would help her get into medicine?", "study_career", None),
    ("Does the school help with applications to universities overseas?", "study_career", None),
    ("Could you tell me what pages to revise for Friday's history test?", "academic", "IPS"),
    ("His English teacher said he hasn't handed in three essays", "academic", "Bahasa Inggris"),
    ("Why was her maths paper marked so low?", "academic", "Matematika"),
    ("He has a high temperature, so he'll stay home today", "absence", None),
    ("We'll be travelling next week for a funeral; she'll miss three days", "absence", None),
    ("Sorry, he overslept and will be in by 9", "absence", None),
    ("Where can I see the breakdown of this term's charges?", "fees", None),
    ("Is there a sibling discount on the annual fee?", "fees", None),
    ("Please send me a copy of her report card, we lost the original", "documents", None),
    ("I need a reference letter from the school for his scholarship application", "documents",
     None),
    ("Good evening, sorry to bother you", None, None),
    ("Got it, thanks", None, None),
    ("Hi, are you the class teacher?", None, None),
]

# Written after the third lexicon revision (which used all tables above) and measured once
# before any further change, as a last fresh check; kept in the table since.
FRESH_CASES: list[tuple[str, str | None, str | None]] = [
    ("Assalamualaikum bu, maaf mau lapor, anak saya tadi pulang bajunya robek, katanya "
     "ditarik2 sama anak kelas 9", "bullying", None),
    ("Bu, anak saya dijulukin 'si item' sama teman2nya, dia jadi malu ke sekolah", "bullying",
     None),
    ("Pak, ada anak yang sering minta jajan ke anak saya, kalau gak dikasih dipukul", "bullying",
     None),
    ("Anak saya katanya di-bully lewat game online sama teman sekolahnya", "bullying", None),
    ("Bu, anak saya ikut tawuran kemarin sore? Saya dapat kabar dari tetangga", "behaviour",
     None),
    ("Pak, mohon maaf anak saya sering main HP waktu pelajaran, sudah saya nasehati",
     "behaviour", None),
    ("Bu, anak saya ketahuan pacaran di sekolah, saya minta tolong dibimbing", "behaviour", None),
    ("anak saya sering pulang telat bu, bilangnya ada les padahal gak ada", "behaviour", None),
    ("Bu, anak saya jadi pendiam sekali dan sering menangis diam-diam", "emotions", None),
    ("Pak, anak saya takut gelap dan sering mimpi buruk setelah kejadian di sekolah", "emotions",
     None),
    ("anak saya lagi down banget bu habis gagal seleksi OSIS", "emotions", None),
    ("Bu, anak saya tiba2 jadi pemarah, dikit2 marah sama adiknya", "emotions", None),
    ("Bu, anak saya sering dicuekin teman-temannya kalau kerja kelompok", "friendships", None),
    ("Anak saya katanya gak punya temen deket, mohon dibantu biar bisa berbaur", "friendships",
     None),
    ("Pak, anak saya baru putus persahabatan sama temannya dan sedih terus", "friendships", None),
    ("Bu, suami saya sedang dirawat di ICU, anak saya jadi sering melamun", "family", None),
    ("Kami baru pindah rumah dan anak saya tinggal sama tantenya sementara", "family", None),
    ("Bu, mohon perhatiannya, ayah anak saya sudah tidak tinggal bersama kami lagi", "family",
     None),
    ("Anak saya sering dimarahi bapaknya di rumah, saya takut dia jadi tertekan", "family", None),
    ("Pak, anak saya sudah 2 minggu mogok sekolah, saya bingung harus gimana", "motivation",
     None),
    ("Anak saya gak pernah ngerjain PR, katanya malas, gimana ya bu", "motivation", None),
    ("bu anak sy udah gak ada minat belajar sama sekali", "motivation", None),
    ("Bu, ada tes minat bakat gak di sekolah? anak saya bingung mau jadi apa", "study_career",
     None),
    ("Pak, anak saya mau ikut seleksi masuk SMA unggulan, persiapannya apa saja?",
     "study_career", None),
    ("anak sy mau ambil jurusan akuntansi, prospek kerjanya gimana pak?", "study_career", None),
    ("Bu, nilai IPS anak saya kok turun ya, apa ada yang belum dikerjakan?", "academic", "IPS"),
    ("Pak guru, anak saya belum paham materi persamaan linear, ada video penjelasannya?",
     "academic", None),
    ("Bu, kapan batas pengumpulan tugas bahasa inggris?", "academic", "Bahasa Inggris"),
    ("anak saya dapet 55 ulangan harian, ada kesempatan remed gak bu?", "academic", None),
    ("Bu, kenapa anak saya tidak diikutkan ujian praktek olahraga?", "academic", "PJOK"),
    ("Mohon info jadwal PAS semester ganjil bu", "academic", None),
    ("Bu, anak saya izin tidak ikut pelajaran olahraga karena kakinya terkilir", "absence",
     "PJOK"),
    ("Selamat pagi bu, hari ini Nadia belum bisa masuk sekolah karena masih batuk pilek",
     "absence", None),
    ("Pak, anak saya kemarin gak masuk karena banjir di rumah, mohon maaf", "absence", None),
    ("izin bu, anak sy hari ini mau vaksin jadi masuk agak siang", "absence", None),
    ("Bu, anak saya harus opname karena DBD, mungkin seminggu", "absence", None),
    ("Bu, untuk uang perpisahan sudah bisa dibayar sekarang atau nanti?", "fees", None),
    ("Pak, apa bisa bayar SPP pakai QRIS?", "fees", None),
    ("Bu, saya sudah lunas uang buku tapi di kartu masih tertulis belum", "fees", None),
    ("Pak, ada iuran kelas yang harus dibayar minggu ini?", "fees", None),
    ("Bu, saya minta tolong dibuatkan surat keterangan untuk beasiswa anak saya", "documents",
     None),
    ("Bu, nama ibu di ijazah salah, bagaimana cara mengganti?", "documents", None),
    ("Pak, berkas mutasi anak saya sudah bisa diambil?", "documents", None),
    ("Bu, anak saya butuh surat rekomendasi kepala sekolah untuk lomba", "documents", None),
    ("Bu, saya orang tua dari Bima kelas 8A", None, None),
    ("Baik pak terima kasih", None, None),
    ("Bu, boleh minta waktu ketemu hari Sabtu?", None, None),
    ("Maaf bu salah kirim", None, None),
    ("P", None, None),
    # English
    ("My daughter came home with scratches, she says a girl in her class did it", "bullying",
     None),
    ("He told me older kids keep tripping him in the hallway", "bullying", None),
    ("I found out my son has been vaping in the toilets", "behaviour", None),
    ("She's been talking back and refusing to follow rules at school", "behaviour", None),
    ("My son gets really nervous before presentations and freezes", "emotions", None),
    ("She has been very clingy and tearful since we moved", "emotions", None),
    ("He feels like nobody likes him at school", "friendships", None),
    ("My daughter's best friend moved away and she's struggling", "friendships", None),
    ("My mother, who lives with us, was just diagnosed with cancer", "family", None),
    ("We're separating and the kids are splitting time between two homes", "family", None),
    ("He says he doesn't see why he should bother with school", "motivation", None),
    ("Does the school offer career counselling for Year 11 students?", "study_career", None),
    ("Can someone explain the marking criteria for the science project?", "academic", "IPA"),
    ("He missed the maths test because he was sick, can he resit?", "academic", "Matematika"),
    ("My son has the flu, he'll be off until Thursday", "absence", None),
    ("She has a dental appointment at 10, I'll pick her up at 9:30", "absence", None),
    ("Can I pay the trip money in cash?", "fees", None),
    ("I haven't received the invoice for this term yet", "fees", None),
    ("We need an official letter stating he is enrolled, for the embassy", "documents", None),
    ("Could you reissue her student ID? She lost it", "documents", None),
    ("Hi Ms. Sari, just checking in", None, None),
    ("Thank you so much for your help!", None, None),
]

TABLES = {"original": ID_CASES + EN_CASES, "heldout": HELDOUT_CASES,
          "validation": VALIDATION_CASES, "fresh": FRESH_CASES}
CASES = ID_CASES + EN_CASES + HELDOUT_CASES + VALIDATION_CASES + FRESH_CASES


def _expected_group(category: str | None) -> str | None:
    return None if category is None else group_of(category)


def test_table_is_big_and_covers_every_category() -> None:
    assert len(ID_CASES) >= 55 and len(EN_CASES) >= 25 and len(CASES) >= 80
    seen = defaultdict(int)
    for _, category, _ in CASES:
        seen[category] += 1
    for category in CATEGORIES:
        assert seen[category] >= 3, category
    assert seen[None] >= 5


def _misrouted(text: str, category: str | None) -> bool:
    result = classify(text, SUBJECTS)
    want = _expected_group(category)
    # An expected-unclear message is misrouted only when a confident category comes back.
    return (result.group != want) if want is not None else result.confident


def test_misroute_rate_under_five_percent() -> None:
    misrouted: list[tuple[str, str | None, Classification]] = []
    per_group_total: dict[str, int] = defaultdict(int)
    per_group_ok: dict[str, int] = defaultdict(int)
    category_ok = 0
    subject_wrong: list[tuple[str, str | None, str | None]] = []
    for text, category, subject in CASES:
        result = classify(text, SUBJECTS)
        want = _expected_group(category)
        label = want or "unclear"
        per_group_total[label] += 1
        if _misrouted(text, category):
            misrouted.append((text, category, result))
        else:
            per_group_ok[label] += 1
        category_ok += result.category == category
        if result.subject != subject:
            subject_wrong.append((text, subject, result.subject))

    n = len(CASES)
    rate = len(misrouted) / n
    print(f"\nclassifier: n={n} misrouted={len(misrouted)} rate={rate:.1%} "
          f"exact category={category_ok}/{n} subject errors={len(subject_wrong)}")
    for name, table in TABLES.items():
        wrong = sum(_misrouted(text, category) for text, category, _ in table)
        print(f"  table {name:<10} n={len(table):<3} misrouted={wrong}")
    for label in sorted(per_group_total):
        ok, total = per_group_ok[label], per_group_total[label]
        print(f"  {label:<11} {ok}/{total} = {ok / total:.0%}")
    for text, category, result in misrouted:
        print(f"  MISROUTED want={category} got={result.category} ({result.group}): {text!r}")
    for text, subject, got in subject_wrong:
        print(f"  SUBJECT want={subject} got={got}: {text!r}")
    assert rate < 0.05
    assert len(subject_wrong) <= n * 0.05


def test_confident_matches_category() -> None:
    for text, _, _ in CASES:
        result = classify(text, SUBJECTS)
        assert result.confident == (result.category is not None)
        assert result.group == (group_of(result.category) if result.category else None)
        assert result.category is None or result.category in CATEGORIES


def test_groups_and_group_of() -> None:
    assert GROUPS["counseling"] == CATEGORIES[:7]
    assert GROUPS["admin"] == ("fees", "documents")
    assert group_of("bullying") == "counseling"
    assert group_of("absence") == "absence"
    assert group_of("documents") == "admin"
    assert group_of("academic") == "academic"
    with pytest.raises(ValueError):
        group_of("weather")


def test_subject_only_from_the_school_list() -> None:
    # Canonical name exactly as the school wrote it.
    assert classify("nilai mtk anak saya jelek", ["matematika", "IPA"]).subject == "matematika"
    assert classify("nilai MTK anak saya jelek", SUBJECTS).subject == "Matematika"
    assert classify("his maths test", SUBJECTS).subject == "Matematika"
    assert classify("PR bhs inggris susah", SUBJECTS).subject == "Bahasa Inggris"
    assert classify("ulangan sains besok?", SUBJECTS).subject == "IPA"
    assert classify("nilai penjas anak saya", SUBJECTS).subject == "PJOK"
    # Not on the list: no subject, but still academic.
    result = classify("nilai matematika anak saya turun", ["IPA", "IPS"])
    assert result.subject is None and result.category == "academic"
    assert classify("nilai agama anak saya", ["Matematika"]).subject is None
    assert classify("nilai matematika anak saya turun").subject is None
    # A subject alone implies academic; a stronger non-academic signal wins but keeps the subject.
    assert classify("matematika", SUBJECTS).category == "academic"
    bullied = classify("anak saya dibully di kelas matematika", SUBJECTS)
    assert (bullied.category, bullied.subject) == ("bullying", "Matematika")
    # "Pak" is how parents address a teacher, not the PAK subject, unless written as the subject.
    assert classify("Pak, nilainya kenapa turun?", ["PAK", "Matematika"]).subject is None


@pytest.mark.parametrize("text", [
    "", "   ", "🙏🙏🙏", "😭😭", "?!?!", "\n\t", "x" * 4000, ("nilai " * 700)[:4000],
    " ".join(["anak saya dibully"] * 250)[:4000], "a" * 4000 + " izin sakit",
])
def test_odd_input_does_not_crash(text: str) -> None:
    result = classify(text, SUBJECTS)
    assert result.category is None or result.category in CATEGORIES
    assert result.confident == (result.category is not None)


def test_emoji_and_empty_are_unclear() -> None:
    for text in ("", "🙏🙏🙏", "   ", "👍"):
        assert classify(text, SUBJECTS) == Classification(None, None, None, False)


def test_template_and_html_are_plain_text() -> None:
    assert classify("{{7*7}}", SUBJECTS).category is None
    assert classify("{% for x in y %}{{ x }}{% endfor %}", SUBJECTS).category is None
    assert classify("<script>alert(1)</script>", SUBJECTS).category is None
    result = classify("<b>anak saya sakit</b>, izin tidak masuk {{7*7}}", SUBJECTS)
    assert result.category == "absence"


def test_the_misroutes_a_newcomer_found_in_issue_13() -> None:
    # Minang "pai" is "go", not the subject PAI (unless written so, or by a grade or a lesson).
    minang = classify("anak ambo ndak pai sakolah", SUBJECTS)
    assert minang.subject is None and minang.group != "academic"
    assert classify("nilai PAI anak saya kosong", SUBJECTS).subject == "PAI"
    assert classify("nilai pai anak saya kosong", SUBJECTS).subject == "PAI"
    # An assignment from the guru BK is the counselor's, not the homeroom teacher's.
    assert classify("Pak, tugas dari BK yang angket minat itu dikumpul kapan?",
                    SUBJECTS).group == "counseling"
    # A translation of a report card is a document, not an English lesson.
    visa = classify("Could I get an English translation of his report card for the visa?",
                    SUBJECTS)
    assert (visa.group, visa.subject) == ("admin", None)
    # Taking the class cash is behaviour, not a fee question.
    assert classify("Bu, anak saya dilaporkan mengambil uang kas kelas",
                    SUBJECTS).group == "counseling"


def test_of_two_subjects_the_one_the_message_is_about() -> None:
    assert classify("nilai IPA anak saya turun, padahal matematika bagus", SUBJECTS).subject == "IPA"
    assert classify("matematika sih bagus, tapi nilai IPA turun", SUBJECTS).subject == "IPA"
    # No learning word by either: the first named.
    assert classify("anak saya suka matematika dan juga IPA, bagaimana ya bu?", SUBJECTS).subject \
        == "Matematika"


def test_evidence_is_summed_per_staff_group() -> None:
    # Two weak counseling signals of different categories together outweigh one absence word.
    found = evidence("Bu, anak saya sedih dan dijauhi teman, jadi sakit perut", SUBJECTS)
    totals = found.group_scores()
    assert totals["counseling"] == sum(found.scores[c] for c in GROUPS["counseling"])
    assert max(found.scores[c] for c in GROUPS["counseling"]) < totals["counseling"]
